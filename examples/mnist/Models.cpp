// examples/mnist/Models.cpp - the report's four MNIST models in the DSL.
#include "examples/mnist/Models.h"

#include "ir/Error.h"

namespace kiln::mnist {

using nn::Activation;

std::vector<std::string> modelNames() { return {"cnn", "keras-example", "mlp", "linear"}; }

std::shared_ptr<nn::Sequential> makeNetwork(std::string_view name) {
  auto net = std::make_shared<nn::Sequential>(std::string(name));
  nn::Sequential &m = *net;
  if (name == "cnn") {
    m.add(nn::Conv2D(32, {5, 5}, Activation::Relu));
    m.add(nn::MaxPool2D({2, 2}));
    m.add(nn::Conv2D(64, {3, 3}, Activation::Relu));
    m.add(nn::MaxPool2D({2, 2}));
    m.add(nn::Dropout(0.2));
    m.add(nn::Flatten());
    m.add(nn::Dense(512, Activation::Relu));
    m.add(nn::Dense(128, Activation::Relu));
    m.add(nn::Dense(50, Activation::Relu));
    m.add(nn::Dropout(0.2));
    m.add(nn::Dense(10, Activation::Softmax));
  } else if (name == "keras-example") {
    m.add(nn::Conv2D(32, {5, 5}, Activation::Relu));
    m.add(nn::MaxPool2D({2, 2}));
    m.add(nn::Conv2D(32, {3, 3}, Activation::Relu));
    m.add(nn::MaxPool2D({2, 2}));
    m.add(nn::Dropout(0.2));
    m.add(nn::Flatten());
    m.add(nn::Dense(128, Activation::Relu));
    m.add(nn::Dense(50, Activation::Relu));
    m.add(nn::Dense(10, Activation::Softmax));
  } else if (name == "mlp") {
    m.add(nn::Flatten());
    m.add(nn::Dense(100, Activation::Relu));
    m.add(nn::Dense(10, Activation::Softmax));
  } else if (name == "linear") {
    m.add(nn::Flatten());
    m.add(nn::Dense(10, Activation::Softmax));
  } else {
    KILN_USER_ERROR() << "unknown model '" << name << "' (models: cnn, keras-example, mlp, linear)";
  }
  return net;
}

std::shared_ptr<optim::Optimizer> makeOptimizer(std::string_view name) {
  if (name == "mlp" || name == "linear")
    return std::make_shared<optim::SGD>(0.1);
  makeNetwork(name); // rejects unknown names
  return std::make_shared<optim::Adadelta>(1.0, 0.95, 1e-7);
}

Model makeModel(std::string_view name, uint64_t seed) {
  return Model(makeNetwork(name), makeOptimizer(name), Shape{1, 28, 28}, seed);
}

BuiltModel buildModel(std::string_view name, int64_t batch, uint64_t seed) {
  return makeModel(name, seed).build(batch);
}

} // namespace kiln::mnist
