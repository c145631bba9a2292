// frontend/Model.cpp - builds a classifier's train and eval step graphs.
#include "frontend/Model.h"

#include "frontend/Summary.h"
#include "ir/Error.h"

namespace kiln {

Model::Model(std::shared_ptr<const nn::Sequential> net, std::shared_ptr<const optim::Optimizer> opt,
             Shape sampleShape, uint64_t seed)
    : net_(std::move(net)), opt_(std::move(opt)), sample_(std::move(sampleShape)), seed_(seed) {
  KILN_USER_CHECK(net_ != nullptr && opt_ != nullptr) << "model: needs a network and an optimizer";
}

namespace {
Shape batched(int64_t batch, const Shape &sample) {
  KILN_USER_CHECK(batch > 0) << "model: batch size must be positive, got " << batch;
  Shape s{batch};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}
} // namespace

std::unique_ptr<Graph> Model::trainGraph(int64_t batch) const {
  auto g = std::make_unique<Graph>("train_step");
  Tensor x = input(*g, "x", TensorType{DType::F32, batched(batch, sample_)});
  Tensor y = input(*g, "y", TensorType{DType::I32, {batch}});
  Tensor key = input(*g, "key", TensorType{DType::I64, {}});
  optim::learningRateInput(*g);
  nn::BuildContext ctx(*g, nn::Mode::Train, key, seed_);
  Tensor logits = net_->forward(ctx, x, /*logits=*/true);
  KILN_USER_CHECK(logits.rank() == 2) << "model " << net_->name() << ": the network must end in [batch,classes], got "
                                      << typeString(logits.type());
  Tensor loss = softmax_cross_entropy(logits, y).named("loss");
  Tensor correct = reduce_sum(cast(equal(argmax(logits, -1), y), DType::F32)).named("correct");
  opt_->minimize(*g, loss.value(), ctx.paramValues());
  g->setOutputs({loss.value(), correct.value()});
  return g;
}

std::unique_ptr<Graph> Model::evalGraph(int64_t batch) const {
  auto g = std::make_unique<Graph>("eval_step");
  Tensor x = input(*g, "x", TensorType{DType::F32, batched(batch, sample_)});
  nn::BuildContext ctx(*g, nn::Mode::Eval, Tensor{}, seed_);
  Tensor logits = net_->forward(ctx, x, /*logits=*/true);
  Tensor probs = softmax(logits, -1).named("probs");
  Tensor preds = argmax(logits, -1).named("preds");
  g->setOutputs({probs.value(), preds.value()});
  return g;
}

std::vector<nn::ParamSpec> Model::params() const {
  Graph g("params");
  Tensor x = input(g, "x", TensorType{DType::F32, batched(1, sample_)});
  nn::BuildContext ctx(g, nn::Mode::Eval, Tensor{}, seed_);
  net_->forward(ctx, x);
  return ctx.params();
}

NamedTensors Model::initialParams() const {
  NamedTensors out;
  for (const nn::ParamSpec &p : params())
    out.emplace(p.name, initialize(p.init, p.type, paramSeed(seed_, p.name)));
  return out;
}

NamedTensors Model::zeroState(const Graph &g) {
  NamedTensors out;
  for (const Node *n : g.states())
    out.emplace(n->name(), HostTensor(n->resultType()));
  return out;
}

std::string Model::summary() const { return kiln::summary(*net_, sample_); }

BuiltModel Model::build(int64_t batch) const {
  BuiltModel m;
  m.train = trainGraph(batch);
  m.eval = evalGraph(batch);
  m.params = params();
  m.initialParams = initialParams();
  m.initialState = zeroState(*m.train);
  m.learningRate = opt_->learningRate();
  m.batchSize = batch;
  return m;
}

} // namespace kiln
