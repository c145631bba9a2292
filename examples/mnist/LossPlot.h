// examples/mnist/LossPlot.h - renders a loss curve to a PNG file.
//
// A small rasterizer (axes, grid, tick labels in a built-in 5x7 font, the
// curve and its moving average) so training runs can show their per-batch
// loss without a plotting dependency; libpng does the encoding.
#ifndef KILN_EXAMPLES_MNIST_LOSSPLOT_H
#define KILN_EXAMPLES_MNIST_LOSSPLOT_H

#include <span>
#include <string>

namespace kiln::mnist {

/// Writes a width x height RGB PNG plotting `values` against their index;
/// `stepsPerEpoch` > 0 draws a vertical line at each epoch boundary.
/// Throws RuntimeError when the file cannot be written.
void writeLossPlot(const std::string &path, std::span<const float> values, int stepsPerEpoch,
                   const std::string &title, int width = 900, int height = 500);

} // namespace kiln::mnist

#endif // KILN_EXAMPLES_MNIST_LOSSPLOT_H
