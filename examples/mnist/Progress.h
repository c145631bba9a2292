// examples/mnist/Progress.h - Keras-style console output: progress bar and tables.
//
// On a terminal the bar is redrawn in place ("\r"); otherwise one plain line
// is printed per epoch, so logs stay readable.
#ifndef KILN_EXAMPLES_MNIST_PROGRESS_H
#define KILN_EXAMPLES_MNIST_PROGRESS_H

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

namespace kiln::mnist {

/// One epoch's progress bar: `469/469 [======] - 6s 13ms/step - loss: 0.0431 - acc: 0.9868`.
class ProgressBar {
public:
  /// `interactive`: redraw in place (a terminal); else print only the final line.
  ProgressBar(std::ostream &os, int64_t total, bool interactive);
  /// Step `done` of `total` finished with running means `loss` and `acc`.
  void update(int64_t done, double loss, double acc);
  /// Ends the bar; `extra` (e.g. " - val_loss: 0.0281 - val_acc: 0.9914") is appended.
  void finish(double loss, double acc, const std::string &extra);

private:
  std::string line(int64_t done, double loss, double acc) const;

  std::ostream &os_;
  int64_t total_;
  bool interactive_;
  std::chrono::steady_clock::time_point start_, lastDraw_;
};

/// A plain text table with a header row, aligned columns and a rule under the header.
std::string formatTable(const std::vector<std::string> &header, const std::vector<std::vector<std::string>> &rows);

/// "%.2f"-style formatting helper.
std::string fixed(double v, int digits);

} // namespace kiln::mnist

#endif // KILN_EXAMPLES_MNIST_PROGRESS_H
