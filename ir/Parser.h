// ir/Parser.h - the IR text format reader.
//
// Errors are UserError "FILE:LINE:COL: expected ..., got ..."; the parser
// never crashes or hangs on any input (it is fuzzed). The parsed graph is
// verified before it is returned.
#ifndef KILN_IR_PARSER_H
#define KILN_IR_PARSER_H

#include "ir/Graph.h"

#include <memory>
#include <string>
#include <string_view>

namespace kiln {

/// Parses one graph from `text`; `filename` is used in messages.
std::unique_ptr<Graph> parseGraph(std::string_view text, std::string_view filename = "<input>");
/// Reads and parses a file (RuntimeError when it cannot be read).
std::unique_ptr<Graph> parseGraphFile(const std::string &path);

} // namespace kiln

#endif // KILN_IR_PARSER_H
