// examples/mnist/Models.h - the report's four MNIST models, written in the DSL.
//
//   cnn            Conv2D 32 5x5 relu, MaxPool 2, Conv2D 64 3x3 relu, MaxPool 2,
//                  Dropout .2, Flatten, Dense 512/128/50 relu, Dropout .2,
//                  Dense 10 softmax; Adadelta(1.0, 0.95, 1e-7); 911,664 params
//   keras-example  Conv2D 32 5x5 relu, MaxPool 2, Conv2D 32 3x3 relu, MaxPool 2,
//                  Dropout .2, Flatten, Dense 128/50 relu, Dense 10 softmax; Adadelta
//   mlp            Flatten, Dense 100 relu, Dense 10 softmax; SGD(0.1)
//   linear         Flatten, Dense 10 softmax; SGD(0.1)
// Samples are f32[1,28,28] (NCHW without the batch); see frontend/Model.h for
// the train and eval graphs a Model builds.
#ifndef KILN_EXAMPLES_MNIST_MODELS_H
#define KILN_EXAMPLES_MNIST_MODELS_H

#include "frontend/Model.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::mnist {

/// The model names, in the order of the report: cnn, keras-example, mlp, linear.
std::vector<std::string> modelNames();
/// The network of model `name`; UserError listing the names for an unknown one.
std::shared_ptr<nn::Sequential> makeNetwork(std::string_view name);
/// The optimizer model `name` trains with.
std::shared_ptr<optim::Optimizer> makeOptimizer(std::string_view name);
/// Network + optimizer + MNIST sample shape, parameters seeded with `seed`.
Model makeModel(std::string_view name, uint64_t seed = 1);
/// makeModel(name, seed).build(batch): train and eval graphs, parameters, state.
BuiltModel buildModel(std::string_view name, int64_t batch, uint64_t seed = 1);

} // namespace kiln::mnist

#endif // KILN_EXAMPLES_MNIST_MODELS_H
