// frontend/Summary.h - the Keras-style model summary table.
//
// summary() builds the model once in Mode::Eval into a scratch graph and
// prints, like Keras' print_summary for sequential models (line length 65,
// columns at 29/55/65, over-long cells cut):
//   Model: "sequential"
//   _________________________________________________________________
//   Layer (type)                 Output Shape              Param #
//   =================================================================
//   conv2d (Conv2D)              (None, 32, 24, 24)        832
//   ...
//   Total params: 911,664
// Output shapes are kiln's (NCHW), with None for the batch dimension.
#ifndef KILN_FRONTEND_SUMMARY_H
#define KILN_FRONTEND_SUMMARY_H

#include "frontend/Layers.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

/// One row of the table.
struct SummaryRow {
  std::string name;  ///< layer name
  std::string type;  ///< Keras class name
  Shape outputShape; ///< without the batch dimension
  int64_t params = 0;
};

/// The rows of `net` applied to samples of shape `sampleShape` (no batch dimension).
std::vector<SummaryRow> summarize(const nn::Sequential &net, const Shape &sampleShape);
/// Total number of parameters (all are trainable).
int64_t countParams(const nn::Sequential &net, const Shape &sampleShape);
/// The whole table, one '\n' after each line.
std::string summary(const nn::Sequential &net, const Shape &sampleShape);
/// 911664 -> "911,664".
std::string withThousands(int64_t n);

} // namespace kiln

#endif // KILN_FRONTEND_SUMMARY_H
