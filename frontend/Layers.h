// frontend/Layers.h - nn:: layers (Conv2D, MaxPool2D, Dense, Dropout, Flatten) and Sequential.
//
// A layer holds only its configuration; forward() appends its ops to the graph
// of a BuildContext, so one model builds any number of graphs (train step,
// eval step, other batch sizes) that share parameter names. Parameters are
// declared through the context, which records name, type and initializer
// (Glorot-uniform weights, zero biases). Keras conventions: Dense kernels are
// [in,out], Conv2D kernels OIHW, images NCHW; a layer's ops carry the source
// location where the layer was constructed, so shape errors point there.
// In Mode::Train Dropout emits `dropout` ops fed by the context's `key` input
// (a step counter); in Mode::Eval it emits nothing.
#ifndef KILN_FRONTEND_LAYERS_H
#define KILN_FRONTEND_LAYERS_H

#include "frontend/Init.h"
#include "frontend/Tensor.h"

#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::nn {

/// Whether a build is for training (dropout active) or inference.
enum class Mode : uint8_t { Train, Eval };

/// Activation applied at the end of Conv2D and Dense.
enum class Activation : uint8_t { None, Relu, Sigmoid, Tanh, Softmax };
/// Keras name of an activation ("relu", "linear" for None).
std::string_view activationName(Activation a);
/// Applies `a` to `x` (softmax over the last axis).
Tensor applyActivation(Activation a, const Tensor &x, std::source_location loc);

/// A parameter a model declares.
struct ParamSpec {
  std::string name;   ///< "conv2d.kernel", "dense_1.bias"
  TensorType type;
  Initializer init;
  std::string layer;  ///< name of the declaring layer
};

/// One build of a model into a graph.
class BuildContext {
public:
  /// `key` (an i64[] input) is required in Train mode when the model has dropout.
  BuildContext(Graph &g, Mode mode, Tensor key = {}, uint64_t seed = 0)
      : graph_(g), mode_(mode), key_(key), seed_(seed) {}

  Graph &graph() const { return graph_; }
  Mode mode() const { return mode_; }
  const Tensor &key() const { return key_; }
  uint64_t seed() const { return seed_; }

  /// The parameter `spec.name`: added to the graph on first request and recorded.
  Tensor param(ParamSpec spec);
  /// Parameters declared so far, in declaration order.
  const std::vector<ParamSpec> &params() const { return specs_; }
  /// Their graph values, in the same order.
  std::vector<Value> paramValues() const;

private:
  Graph &graph_;
  Mode mode_;
  Tensor key_;
  uint64_t seed_;
  std::vector<ParamSpec> specs_;
  std::vector<Tensor> values_;
};

/// A layer: configuration plus forward().
class Layer {
public:
  explicit Layer(std::source_location loc) : loc_(loc) {}
  virtual ~Layer() = default;

  /// Keras class name shown by summary(): "Conv2D", "MaxPooling2D", "Dense", ...
  virtual std::string_view typeName() const = 0;
  /// Stem of automatic layer names: "conv2d", "max_pooling2d", "dense", ...
  virtual std::string_view baseName() const = 0;
  /// Appends the layer's ops to ctx's graph; returns the output.
  virtual Tensor forward(BuildContext &ctx, const Tensor &x) const = 0;
  /// Like forward() but without the final activation (logits for a fused loss).
  virtual Tensor forwardLinear(BuildContext &ctx, const Tensor &x) const { return forward(ctx, x); }
  /// The layer's final activation (None for layers without one).
  virtual Activation activation() const { return Activation::None; }

  const std::string &name() const { return name_; }
  void setName(std::string n) { name_ = std::move(n); }
  const std::source_location &location() const { return loc_; }

protected:
  std::source_location loc_;
  std::string name_;
};

/// 2-D convolution with bias: OIHW kernel `<name>.kernel`, bias `<name>.bias` [O].
class Conv2D : public Layer {
public:
  Conv2D(int64_t filters, std::vector<int64_t> kernelSize, Activation act = Activation::None,
         std::vector<int64_t> strides = {1, 1}, Padding padding = "valid",
         std::source_location loc = std::source_location::current());
  std::string_view typeName() const override { return "Conv2D"; }
  std::string_view baseName() const override { return "conv2d"; }
  Tensor forward(BuildContext &ctx, const Tensor &x) const override;
  Tensor forwardLinear(BuildContext &ctx, const Tensor &x) const override;
  Activation activation() const override { return act_; }

private:
  int64_t filters_;
  std::vector<int64_t> kernel_, strides_;
  Padding padding_;
  Activation act_;
};

/// Max pooling; `strides` empty means equal to the pool size.
class MaxPool2D : public Layer {
public:
  MaxPool2D(std::vector<int64_t> poolSize = {2, 2}, std::vector<int64_t> strides = {},
            Padding padding = "valid", std::source_location loc = std::source_location::current());
  std::string_view typeName() const override { return "MaxPooling2D"; }
  std::string_view baseName() const override { return "max_pooling2d"; }
  Tensor forward(BuildContext &ctx, const Tensor &x) const override;

private:
  std::vector<int64_t> pool_, strides_;
  Padding padding_;
};

/// Fully connected layer: [N,in] x kernel [in,units] + bias [units].
class Dense : public Layer {
public:
  explicit Dense(int64_t units, Activation act = Activation::None,
                 std::source_location loc = std::source_location::current());
  std::string_view typeName() const override { return "Dense"; }
  std::string_view baseName() const override { return "dense"; }
  Tensor forward(BuildContext &ctx, const Tensor &x) const override;
  Tensor forwardLinear(BuildContext &ctx, const Tensor &x) const override;
  Activation activation() const override { return act_; }

private:
  int64_t units_;
  Activation act_;
};

/// Inverted dropout in Mode::Train, identity in Mode::Eval.
class Dropout : public Layer {
public:
  explicit Dropout(double rate, std::source_location loc = std::source_location::current());
  std::string_view typeName() const override { return "Dropout"; }
  std::string_view baseName() const override { return "dropout"; }
  Tensor forward(BuildContext &ctx, const Tensor &x) const override;
  double rate() const { return rate_; }

private:
  double rate_;
};

/// [N, ...] -> [N, prod(...)].
class Flatten : public Layer {
public:
  explicit Flatten(std::source_location loc = std::source_location::current()) : Layer(loc) {}
  std::string_view typeName() const override { return "Flatten"; }
  std::string_view baseName() const override { return "flatten"; }
  Tensor forward(BuildContext &ctx, const Tensor &x) const override;
};

/// Layers applied in order. Names layers Keras-style on add (conv2d, conv2d_1, ...).
class Sequential {
public:
  explicit Sequential(std::string name = "sequential") : name_(std::move(name)) {}

  /// Appends a layer (moved in); returns *this for chaining.
  template <typename L> Sequential &add(L layer) {
    return addLayer(std::make_unique<L>(std::move(layer)));
  }
  Sequential &addLayer(std::unique_ptr<Layer> layer);

  /// Applies every layer. With `logits`, the last layer skips its activation
  /// (it must be softmax or none), for softmax_cross_entropy.
  Tensor forward(BuildContext &ctx, const Tensor &x, bool logits = false) const;

  const std::string &name() const { return name_; }
  const std::vector<std::unique_ptr<Layer>> &layers() const { return layers_; }

private:
  std::string name_;
  std::vector<std::unique_ptr<Layer>> layers_;
};

/// Seed of dropout layer `layerName` in a model seeded with `modelSeed` (a non-negative Int attr).
int64_t dropoutSeed(uint64_t modelSeed, std::string_view layerName);

} // namespace kiln::nn

#endif // KILN_FRONTEND_LAYERS_H
