// frontend/Layers.cpp - nn:: layers and Sequential: configuration in, ops out.
#include "frontend/Layers.h"

#include "ir/Error.h"

#include <map>

namespace kiln::nn {

std::string_view activationName(Activation a) {
  switch (a) {
  case Activation::None: return "linear";
  case Activation::Relu: return "relu";
  case Activation::Sigmoid: return "sigmoid";
  case Activation::Tanh: return "tanh";
  case Activation::Softmax: return "softmax";
  }
  return "?";
}

Tensor applyActivation(Activation a, const Tensor &x, std::source_location loc) {
  switch (a) {
  case Activation::None: return x;
  case Activation::Relu: return relu(x, loc);
  case Activation::Sigmoid: return sigmoid(x, loc);
  case Activation::Tanh: return tanh(x, loc);
  case Activation::Softmax: return softmax(x, -1, loc);
  }
  return x;
}

int64_t dropoutSeed(uint64_t modelSeed, std::string_view layerName) {
  return static_cast<int64_t>(paramSeed(modelSeed, layerName) >> 33);
}

// ---- BuildContext -----------------------------------------------------------
Tensor BuildContext::param(ParamSpec spec) {
  for (size_t i = 0; i < specs_.size(); ++i) {
    if (specs_[i].name != spec.name)
      continue;
    KILN_USER_CHECK(specs_[i].type == spec.type)
        << "parameter " << spec.name << " declared twice with types " << typeString(specs_[i].type)
        << " and " << typeString(spec.type);
    return values_[i];
  }
  Tensor t = parameter(graph_, spec.name, spec.type);
  specs_.push_back(std::move(spec));
  values_.push_back(t);
  return t;
}

std::vector<Value> BuildContext::paramValues() const {
  std::vector<Value> v;
  for (const Tensor &t : values_)
    v.push_back(t.value());
  return v;
}

namespace {
std::string where(const Layer &l) { return locationString(l.location()) + ": " + l.name(); }
} // namespace

// ---- Conv2D -----------------------------------------------------------------
Conv2D::Conv2D(int64_t filters, std::vector<int64_t> kernelSize, Activation act, std::vector<int64_t> strides,
               Padding padding, std::source_location loc)
    : Layer(loc), filters_(filters), kernel_(std::move(kernelSize)), strides_(std::move(strides)),
      padding_(std::move(padding)), act_(act) {
  KILN_USER_CHECK(filters_ > 0 && kernel_.size() == 2 && kernel_[0] > 0 && kernel_[1] > 0)
      << locationString(loc) << ": Conv2D: needs filters > 0 and a 2-D kernel size, got filters " << filters_
      << " and " << kernel_.size() << " kernel dims";
}

Tensor Conv2D::forwardLinear(BuildContext &ctx, const Tensor &x) const {
  KILN_USER_CHECK(x.rank() == 4) << where(*this) << " (Conv2D): input must be NCHW (rank 4), got "
                                 << typeString(x.type());
  TensorType wt{x.dtype(), {filters_, x.dim(1), kernel_[0], kernel_[1]}};
  Tensor w = ctx.param({name_ + ".kernel", wt, Initializer::glorotUniform(), name_});
  Tensor b = ctx.param({name_ + ".bias", TensorType{x.dtype(), {filters_}}, Initializer::zeros(), name_});
  Tensor y = conv2d(x, w, strides_, padding_, loc_);
  return add(y, b, {1}, loc_);
}

Tensor Conv2D::forward(BuildContext &ctx, const Tensor &x) const {
  return applyActivation(act_, forwardLinear(ctx, x), loc_);
}

// ---- MaxPool2D --------------------------------------------------------------
MaxPool2D::MaxPool2D(std::vector<int64_t> poolSize, std::vector<int64_t> strides, Padding padding,
                     std::source_location loc)
    : Layer(loc), pool_(std::move(poolSize)), strides_(std::move(strides)), padding_(std::move(padding)) {}

Tensor MaxPool2D::forward(BuildContext &, const Tensor &x) const {
  return max_pool2d(x, pool_, strides_, padding_, loc_);
}

// ---- Dense ------------------------------------------------------------------
Dense::Dense(int64_t units, Activation act, std::source_location loc) : Layer(loc), units_(units), act_(act) {
  KILN_USER_CHECK(units_ > 0) << locationString(loc) << ": Dense: units must be positive, got " << units_;
}

Tensor Dense::forwardLinear(BuildContext &ctx, const Tensor &x) const {
  KILN_USER_CHECK(x.rank() == 2) << where(*this) << " (Dense): input must be [batch,features] (rank 2), got "
                                 << typeString(x.type()) << "; add a Flatten layer first";
  TensorType wt{x.dtype(), {x.dim(1), units_}};
  Tensor w = ctx.param({name_ + ".kernel", wt, Initializer::glorotUniform(), name_});
  Tensor b = ctx.param({name_ + ".bias", TensorType{x.dtype(), {units_}}, Initializer::zeros(), name_});
  return add(matmul(x, w, false, false, loc_), b, {1}, loc_);
}

Tensor Dense::forward(BuildContext &ctx, const Tensor &x) const {
  return applyActivation(act_, forwardLinear(ctx, x), loc_);
}

// ---- Dropout ----------------------------------------------------------------
Dropout::Dropout(double rate, std::source_location loc) : Layer(loc), rate_(rate) {
  KILN_USER_CHECK(rate_ >= 0.0 && rate_ < 1.0) << locationString(loc) << ": Dropout: rate must be in [0,1), got "
                                               << rate_;
}

Tensor Dropout::forward(BuildContext &ctx, const Tensor &x) const {
  if (ctx.mode() == Mode::Eval || rate_ == 0.0)
    return x;
  KILN_USER_CHECK(static_cast<bool>(ctx.key()))
      << where(*this) << " (Dropout): a training build needs the i64[] `key` input";
  return dropout(x, ctx.key(), rate_, dropoutSeed(ctx.seed(), name_), loc_);
}

// ---- Flatten ----------------------------------------------------------------
Tensor Flatten::forward(BuildContext &, const Tensor &x) const { return flatten(x, 1, loc_); }

// ---- Sequential -------------------------------------------------------------
Sequential &Sequential::addLayer(std::unique_ptr<Layer> layer) {
  KILN_INTERNAL_CHECK(layer != nullptr) << "null layer";
  if (layer->name().empty()) {
    std::string base(layer->baseName());
    int n = 0;
    for (const auto &l : layers_)
      n += l->baseName() == layer->baseName();
    layer->setName(n == 0 ? base : base + "_" + std::to_string(n));
  }
  for (const auto &l : layers_)
    KILN_USER_CHECK(l->name() != layer->name())
        << locationString(layer->location()) << ": two layers named " << layer->name() << " in " << name_;
  layers_.push_back(std::move(layer));
  return *this;
}

Tensor Sequential::forward(BuildContext &ctx, const Tensor &x, bool logits) const {
  KILN_USER_CHECK(!layers_.empty()) << "model " << name_ << " has no layers";
  Tensor h = x;
  for (size_t i = 0; i + 1 < layers_.size(); ++i)
    h = layers_[i]->forward(ctx, h);
  const Layer &last = *layers_.back();
  if (!logits)
    return last.forward(ctx, h);
  KILN_USER_CHECK(last.activation() == Activation::None || last.activation() == Activation::Softmax)
      << where(last) << ": the last layer of a classifier must have a softmax or no activation, got "
      << activationName(last.activation());
  return last.forwardLinear(ctx, h);
}

} // namespace kiln::nn
