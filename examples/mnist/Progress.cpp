// examples/mnist/Progress.cpp - progress bar and table formatting.
#include "examples/mnist/Progress.h"

#include <algorithm>
#include <cstdio>

namespace kiln::mnist {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

ProgressBar::ProgressBar(std::ostream &os, int64_t total, bool interactive)
    : os_(os), total_(total), interactive_(interactive), start_(std::chrono::steady_clock::now()),
      lastDraw_(start_) {}

std::string ProgressBar::line(int64_t done, double loss, double acc) const {
  const int width = 30;
  int filled = total_ ? static_cast<int>(width * done / total_) : width;
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) {
    bar += '>';
    bar += std::string(static_cast<size_t>(width - filled - 1), '.');
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string count = std::to_string(total_);
  std::string doneStr = std::to_string(done);
  doneStr = std::string(count.size() - std::min(count.size(), doneStr.size()), ' ') + doneStr;
  std::string out = doneStr + "/" + count + " [" + bar + "] - ";
  if (done < total_ && done > 0) {
    double eta = secs / done * (total_ - done);
    out += "ETA: " + std::to_string(static_cast<int64_t>(eta)) + "s";
  } else {
    out += std::to_string(static_cast<int64_t>(secs + 0.5)) + "s";
    if (done > 0) { // as Keras: microseconds below a millisecond per step
      double ms = secs * 1000 / done;
      out.append(" ").append(ms >= 1 ? std::to_string(static_cast<int64_t>(ms + 0.5)) + "ms/step"
                                     : std::to_string(static_cast<int64_t>(ms * 1000 + 0.5)) + "us/step");
    }
  }
  return out + " - loss: " + fixed(loss, 4) + " - acc: " + fixed(acc, 4);
}

void ProgressBar::update(int64_t done, double loss, double acc) {
  if (!interactive_)
    return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - lastDraw_ < std::chrono::milliseconds(100))
    return;
  lastDraw_ = now;
  os_ << "\r" << line(done, loss, acc) << "\x1b[K" << std::flush;
}

void ProgressBar::finish(double loss, double acc, const std::string &extra) {
  if (interactive_)
    os_ << "\r";
  os_ << line(total_, loss, acc) << extra << (interactive_ ? "\x1b[K" : "") << "\n" << std::flush;
}

std::string formatTable(const std::vector<std::string> &header, const std::vector<std::vector<std::string>> &rows) {
  std::vector<size_t> w(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    w[c] = header[c].size();
    for (const auto &r : rows)
      if (c < r.size())
        w[c] = std::max(w[c], r[c].size());
  }
  auto fmt = [&](const std::vector<std::string> &r) {
    std::string s;
    for (size_t c = 0; c < header.size(); ++c) {
      std::string cell = c < r.size() ? r[c] : "";
      std::string pad(w[c] - cell.size(), ' ');
      s += (c ? "  " : "") + (c == 0 ? cell + pad : pad + cell); // first column left, numbers right
    }
    return s + "\n";
  };
  std::string out = fmt(header);
  size_t total = 0;
  for (size_t c = 0; c < w.size(); ++c)
    total += w[c] + (c ? 2 : 0);
  out += std::string(total, '-') + "\n";
  for (const auto &r : rows)
    out += fmt(r);
  return out;
}

} // namespace kiln::mnist
