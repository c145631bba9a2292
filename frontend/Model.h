// frontend/Model.h - what a built model hands to the runtime: graphs, parameters, state.
//
// A Model ties a Sequential classifier, an optimizer, the sample shape and a
// seed together and builds:
//   train step  inputs  x: f32[B,...], y: i32[B], key: i64[], lr: f32[]
//               params  every layer parameter; state: the optimizer's slots
//               outputs loss: f32[] (mean softmax cross-entropy of the logits),
//                       correct: f32[] (number of rows whose argmax equals y)
//               effects assign to every parameter and state value
//   eval step   inputs  x: f32[B,...]; params as above
//               outputs probs: f32[B,classes] (softmax), preds: i32[B] (argmax)
// `key` is the dropout step counter (feed a different value each step); it is
// an input of every train graph, used or not, so all models run alike.
#ifndef KILN_FRONTEND_MODEL_H
#define KILN_FRONTEND_MODEL_H

#include "frontend/Layers.h"
#include "frontend/Optim.h"
#include "ir/HostTensor.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

/// Tensors by signature name (the interpreter's TensorMap has the same type).
using NamedTensors = std::map<std::string, HostTensor>;

/// One build of a model for a batch size: everything a runtime needs.
struct BuiltModel {
  std::unique_ptr<Graph> train;        ///< train step (see the file comment)
  std::unique_ptr<Graph> eval;         ///< eval step
  std::vector<nn::ParamSpec> params;   ///< parameters, in graph order
  NamedTensors initialParams;          ///< seeded initial values by name
  NamedTensors initialState;           ///< optimizer state by name, all zeros
  double learningRate = 0.0;           ///< default value of the `lr` input
  int64_t batchSize = 0;
};

/// A classifier model: network, optimizer, sample shape (no batch dim), seed.
class Model {
public:
  Model(std::shared_ptr<const nn::Sequential> net, std::shared_ptr<const optim::Optimizer> opt,
        Shape sampleShape, uint64_t seed = 0);

  /// The train-step graph for batch size `batch`.
  std::unique_ptr<Graph> trainGraph(int64_t batch) const;
  /// The eval-step graph for batch size `batch`.
  std::unique_ptr<Graph> evalGraph(int64_t batch) const;
  /// Both graphs, the parameters with their initial values and the zero state.
  BuiltModel build(int64_t batch) const;

  /// Parameter declarations, in graph order.
  std::vector<nn::ParamSpec> params() const;
  /// Seeded initial values of the parameters (same seed, same values).
  NamedTensors initialParams() const;
  /// Zeros for every state value of `g`.
  static NamedTensors zeroState(const Graph &g);
  /// The Keras-style summary table.
  std::string summary() const;

  const nn::Sequential &net() const { return *net_; }
  const optim::Optimizer &optimizer() const { return *opt_; }
  const Shape &sampleShape() const { return sample_; }
  uint64_t seed() const { return seed_; }

private:
  std::shared_ptr<const nn::Sequential> net_;
  std::shared_ptr<const optim::Optimizer> opt_;
  Shape sample_;
  uint64_t seed_;
};

} // namespace kiln

#endif // KILN_FRONTEND_MODEL_H
