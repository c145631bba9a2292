// examples/mnist/LossPlot.cpp - the loss-curve rasterizer and PNG encoder.
#include "examples/mnist/LossPlot.h"

#include "ir/Error.h"

#include <png.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace kiln::mnist {

namespace {
struct Rgb {
  uint8_t r, g, b;
};

/// 5x7 glyphs, one byte per row (low 5 bits, MSB left), for the characters the labels use.
const std::array<uint8_t, 7> *glyph(char c) {
  static const std::pair<char, std::array<uint8_t, 7>> font[] = {
      {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}}, {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
      {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}}, {'3', {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}},
      {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}}, {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
      {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}}, {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
      {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}}, {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
      {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}}, {'-', {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}},
      {' ', {0, 0, 0, 0, 0, 0, 0}},
      {'a', {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f}}, {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e}},
      {'c', {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e}}, {'d', {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f}},
      {'e', {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e}}, {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
      {'i', {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e}}, {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}},
      {'l', {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}}, {'m', {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11}},
      {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}}, {'o', {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e}},
      {'p', {0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10}}, {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
      {'s', {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e}}, {'t', {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06}},
      {'u', {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d}}, {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04}},
      {'g', {0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e}}, {'y', {0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e}},
      {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
      {',', {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08}}, {'/', {0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10}},
      {'=', {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}}, {':', {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}},
  };
  for (const auto &[ch, rows] : font)
    if (ch == c)
      return &rows;
  return nullptr;
}

class Canvas {
public:
  Canvas(int w, int h) : w_(w), h_(h), px_(static_cast<size_t>(w) * h, Rgb{255, 255, 255}) {}

  void put(int x, int y, Rgb c) {
    if (x >= 0 && y >= 0 && x < w_ && y < h_)
      px_[static_cast<size_t>(y) * w_ + x] = c;
  }
  void line(double x0, double y0, double x1, double y1, Rgb c) {
    int steps = static_cast<int>(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0))) + 1;
    for (int i = 0; i <= steps; ++i) {
      double t = static_cast<double>(i) / steps;
      put(static_cast<int>(std::lround(x0 + (x1 - x0) * t)), static_cast<int>(std::lround(y0 + (y1 - y0) * t)), c);
    }
  }
  /// Text at (x, y) top-left, scale 2 (10x14 glyphs, 12 px advance).
  void text(int x, int y, const std::string &s, Rgb c) {
    for (char ch : s) {
      if (const auto *g = glyph(ch))
        for (int r = 0; r < 7; ++r)
          for (int b = 0; b < 5; ++b)
            if ((*g)[r] & (0x10 >> b))
              for (int dy = 0; dy < 2; ++dy)
                for (int dx = 0; dx < 2; ++dx)
                  put(x + b * 2 + dx, y + r * 2 + dy, c);
      x += 12;
    }
  }
  void save(const std::string &path) const {
    std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(path.c_str(), "wb"), std::fclose);
    KILN_RUNTIME_CHECK(f) << path << ": cannot open for writing: " << std::strerror(errno);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    KILN_RUNTIME_CHECK(png && info) << path << ": libpng could not start";
    if (setjmp(png_jmpbuf(png))) {
      png_destroy_write_struct(&png, &info);
      KILN_RUNTIME_ERROR() << path << ": libpng failed while writing";
    }
    png_init_io(png, f.get());
    png_set_IHDR(png, info, w_, h_, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h_; ++y)
      png_write_row(png, reinterpret_cast<png_const_bytep>(&px_[static_cast<size_t>(y) * w_]));
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
  }

private:
  int w_, h_;
  std::vector<Rgb> px_;
};

std::string label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
} // namespace

void writeLossPlot(const std::string &path, std::span<const float> values, int stepsPerEpoch,
                   const std::string &title, int width, int height) {
  Canvas c(width, height);
  const int left = 70, right = 20, top = 40, bottom = 50;
  const int pw = width - left - right, ph = height - top - bottom;
  const Rgb axis{0, 0, 0}, grid{225, 225, 225}, raw{150, 180, 230}, smooth{200, 40, 40};
  double hi = 0;
  for (float v : values)
    if (std::isfinite(v))
      hi = std::max(hi, static_cast<double>(v));
  // Round the axis up to a "nice" multiple of a 1-2-5 tick step, five ticks or so.
  double rough = hi > 0 ? hi / 5 : 0.2, mag = std::pow(10.0, std::floor(std::log10(rough)));
  double tick = rough <= mag ? mag : rough <= 2 * mag ? 2 * mag : rough <= 5 * mag ? 5 * mag : 10 * mag;
  int ticks = static_cast<int>(std::ceil(hi / tick - 1e-9));
  ticks = std::max(ticks, 1);
  hi = tick * ticks;
  size_t n = std::max<size_t>(values.size(), 2);
  auto px = [&](double i) { return left + i * pw / static_cast<double>(n - 1); };
  auto py = [&](double v) { return top + ph - std::clamp(v / hi, 0.0, 1.0) * ph; };

  for (int k = 0; k <= ticks; ++k) { // horizontal grid + y labels
    double v = tick * k;
    c.line(left, py(v), left + pw, py(v), grid);
    c.text(8, static_cast<int>(py(v)) - 7, label(v), axis);
  }
  if (stepsPerEpoch > 0)
    for (size_t e = stepsPerEpoch; e < values.size(); e += stepsPerEpoch)
      c.line(px(static_cast<double>(e)), top, px(static_cast<double>(e)), top + ph, grid);
  c.line(left, top, left, top + ph, axis);
  c.line(left, top + ph, left + pw, top + ph, axis);
  c.text(left, 12, title, axis);
  c.text(left + pw / 2 - 60, height - 30, "batch (step)", axis);
  c.text(left, top + ph + 6, "0", axis);
  std::string last = std::to_string(values.size());
  c.text(left + pw - 12 * static_cast<int>(last.size()), top + ph + 6, last, axis);

  for (size_t i = 1; i < values.size(); ++i)
    c.line(px(i - 1.0), py(values[i - 1]), px(static_cast<double>(i)), py(values[i]), raw);
  double avg = values.empty() ? 0 : values[0]; // exponential moving average, as TensorBoard smooths
  double prevX = px(0), prevY = py(avg);
  for (size_t i = 1; i < values.size(); ++i) {
    avg = 0.95 * avg + 0.05 * values[i];
    double x = px(static_cast<double>(i)), y = py(avg);
    c.line(prevX, prevY, x, y, smooth);
    c.line(prevX, prevY + 1, x, y + 1, smooth);
    prevX = x;
    prevY = y;
  }
  c.save(path);
}

} // namespace kiln::mnist
