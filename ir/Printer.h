// ir/Printer.h - the IR text format writer, and the Graphviz writer.
//
//   graph @train_step(%x: f32[128,1,28,28], %y: i32[128]) params(%w1: f32[32,1,5,5]) state(%a: f32[32]) {
//     %0 = conv2d(%x, %w1) {stride = [1,1], padding = "valid"} : f32[128,32,24,24]
//     assign(%w1, %9)
//     return %loss : f32[]
//   }
// Printing is deterministic and print -> parse -> print is byte-identical.
#ifndef KILN_IR_PRINTER_H
#define KILN_IR_PRINTER_H

#include "ir/Graph.h"

#include <ostream>
#include <string>

namespace kiln {

/// Writes `g` in the text format.
void print(const Graph &g, std::ostream &os);
/// Returns `g` in the text format.
std::string toText(const Graph &g);
/// Writes `g` as a Graphviz digraph (fused regions as clusters).
void writeDot(const Graph &g, std::ostream &os);

} // namespace kiln

#endif // KILN_IR_PRINTER_H
