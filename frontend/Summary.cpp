// frontend/Summary.cpp - the Keras-style model summary table.
#include "frontend/Summary.h"

#include <array>

namespace kiln {

std::vector<SummaryRow> summarize(const nn::Sequential &net, const Shape &sampleShape) {
  Graph g("summary");
  Shape s{1};
  s.insert(s.end(), sampleShape.begin(), sampleShape.end());
  nn::BuildContext ctx(g, nn::Mode::Eval);
  Tensor h = input(g, "x", TensorType{DType::F32, s});
  std::vector<SummaryRow> rows;
  for (const auto &layer : net.layers()) {
    size_t before = ctx.params().size();
    h = layer->forward(ctx, h);
    SummaryRow row{layer->name(), std::string(layer->typeName()), Shape(h.shape().begin() + 1, h.shape().end()), 0};
    for (size_t i = before; i < ctx.params().size(); ++i)
      row.params += ctx.params()[i].type.numel();
    rows.push_back(std::move(row));
  }
  return rows;
}

int64_t countParams(const nn::Sequential &net, const Shape &sampleShape) {
  int64_t n = 0;
  for (const SummaryRow &r : summarize(net, sampleShape))
    n += r.params;
  return n;
}

std::string withThousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

namespace {

constexpr size_t kLineLength = 65;
constexpr std::array<size_t, 3> kPositions{29, 55, 65};

/// Keras' print_row: each field starts after the previous column (whose last
/// character becomes a space), is cut at its column end and padded to it.
std::string row(const std::array<std::string, 3> &fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0)
      line = line.substr(0, line.size() - 1) + " ";
    line += fields[i];
    line = line.substr(0, kPositions[i]);
    line.append(kPositions[i] - line.size(), ' ');
  }
  return line + "\n";
}

std::string shapeCell(const Shape &s) {
  std::string out = "(None";
  for (int64_t d : s)
    out += ", " + std::to_string(d);
  return out + ")";
}

} // namespace

std::string summary(const nn::Sequential &net, const Shape &sampleShape) {
  std::vector<SummaryRow> rows = summarize(net, sampleShape);
  std::string rule(kLineLength, '_'), doubleRule(kLineLength, '=');
  std::string out = "Model: \"" + net.name() + "\"\n" + rule + "\n";
  out += row({"Layer (type)", "Output Shape", "Param #"});
  out += doubleRule + "\n";
  int64_t total = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const SummaryRow &r = rows[i];
    out += row({r.name + " (" + r.type + ")", shapeCell(r.outputShape), std::to_string(r.params)});
    out += (i + 1 == rows.size() ? doubleRule : rule) + "\n";
    total += r.params;
  }
  out += "Total params: " + withThousands(total) + "\n";
  out += "Trainable params: " + withThousands(total) + "\n";
  out += "Non-trainable params: 0\n";
  out += rule + "\n";
  return out;
}

} // namespace kiln
