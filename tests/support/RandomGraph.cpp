// tests/support/RandomGraph.cpp - the random graph generator.
#include "tests/support/RandomGraph.h"

#include "ir/Printer.h"
#include "passes/Autodiff.h"
#include "passes/Pass.h"
#include "tests/support/BackendCheck.h"

#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

namespace kiln::test {

namespace {

class Generator {
public:
  Generator(uint32_t seed, const RandomGraphOptions &opt)
      : rng_(seed), opt_(opt), g_(std::make_unique<Graph>(std::string("random").append(std::to_string(seed)))) {}

  std::unique_ptr<Graph> run() {
    int inputs = pick(1, 2);
    for (int i = 0; i < inputs; ++i)
      pool_.push_back(newLeaf(randomShape(pick(1, 4))));
    if (chance(0.4))
      pool_.push_back(newLeaf({pick(1, 3), pick(1, 3), pick(3, 7), pick(3, 7)}));
    int ops = pick(opt_.minOps, opt_.maxOps);
    for (int done = 0, tries = 0; done < ops && tries < 200; ++tries)
      done += step() ? 1 : 0;
    std::vector<Value> sinks;
    for (Value v : pool_)
      if (g_->useCount(v) == 0 && v.node->kind() != OpKind::Input && v.node->kind() != OpKind::Parameter)
        sinks.push_back(v);
    if (sinks.empty())
      sinks.push_back(pool_.back());
    g_->setOutputs(sinks);
    if (opt_.backward && !g_->params().empty()) {
      Value loss;
      for (Value s : sinks) {
        Value r = g_->build(OpKind::ReduceSum, {s});
        loss = loss ? g_->build(OpKind::Add, {loss, r}) : r;
      }
      std::vector<Value> wrt;
      for (Node *p : g_->params())
        wrt.push_back(p->result());
      for (Value d : grad(*g_, loss, wrt))
        g_->addOutput(d);
    }
    verify(*g_);
    return std::move(g_);
  }

private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  Value any() { return pool_[pick(0, static_cast<int>(pool_.size()) - 1)]; }

  Shape randomShape(int rank) {
    Shape s;
    for (int i = 0; i < rank; ++i)
      s.push_back(pick(1, 6));
    return s;
  }
  Value newLeaf(Shape s) {
    std::string name = "p";
    name.append(std::to_string(leaves_++));
    TensorType t{DType::F32, std::move(s)};
    return chance(0.5) ? g_->addParam(name, t) : g_->addInput(name, t);
  }
  static AttrMap attr(std::initializer_list<std::pair<const char *, Attr>> kv) {
    AttrMap m;
    for (auto &[k, v] : kv)
      m.set(k, v);
    return m;
  }
  /// A shape numpy-broadcastable to s: some dims set to 1, maybe leading dims dropped.
  Shape broadcastable(const Shape &s) {
    size_t drop = s.empty() ? 0 : static_cast<size_t>(pick(0, static_cast<int>(s.size())));
    Shape out(s.begin() + static_cast<std::ptrdiff_t>(drop), s.end());
    for (int64_t &d : out)
      if (chance(0.3))
        d = 1;
    return out;
  }
  Value positive(Value v) {
    return g_->build(OpKind::Add, {g_->build(OpKind::Abs, {v}), g_->constant(1.0, {DType::F32, {}})});
  }

  bool step() {
    Value a = any();
    const Shape &s = a.shape();
    auto rank = static_cast<int64_t>(s.size());
    Value out;
    switch (pick(0, 13)) {
    case 0: {
      static const OpKind kUnary[] = {OpKind::Neg, OpKind::Tanh, OpKind::Sigmoid, OpKind::Relu, OpKind::Abs};
      out = g_->build(kUnary[pick(0, 4)], {a});
      break;
    }
    case 1: {
      static const OpKind kPos[] = {OpKind::Log, OpKind::Sqrt, OpKind::Rsqrt};
      out = g_->build(kPos[pick(0, 2)], {positive(a)});
      break;
    }
    case 2: out = g_->build(OpKind::Exp, {g_->build(OpKind::Tanh, {a})}); break;
    case 3:
    case 4: {
      static const OpKind kBin[] = {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Maximum, OpKind::Minimum};
      Value b = chance(0.5) ? newLeaf(broadcastable(s)) : a;
      for (Value v : pool_)
        if (v.shape() == s && v != a && chance(0.5))
          b = v;
      OpKind k = kBin[pick(0, 4)];
      out = chance(0.5) ? g_->build(k, {a, b}) : g_->build(k, {b, a});
      break;
    }
    case 5: {
      if (rank < 2)
        return false;
      int64_t d = pick(0, static_cast<int>(rank) - 1);
      Value bias = newLeaf({s[d]});
      out = g_->build(OpKind::Div, {a, positive(bias)}, attr({{"broadcast", std::vector<int64_t>{d}}}));
      break;
    }
    case 6: {
      static const OpKind kRed[] = {OpKind::ReduceSum, OpKind::ReduceMean, OpKind::ReduceMax};
      std::vector<int64_t> axes;
      for (int64_t d = 0; d < rank; ++d)
        if (chance(0.5))
          axes.push_back(d);
      out = g_->build(kRed[pick(0, 2)], {a}, attr({{"axes", axes}, {"keepdims", chance(0.5)}}));
      break;
    }
    case 7: {
      std::vector<int64_t> perm(rank);
      for (int64_t d = 0; d < rank; ++d)
        perm[d] = d;
      std::shuffle(perm.begin(), perm.end(), rng_);
      out = g_->build(OpKind::Transpose, {a}, attr({{"perm", perm}}));
      break;
    }
    case 8: {
      if (rank < 1)
        return false;
      out = chance(0.5) ? g_->build(OpKind::Flatten, {a}) : g_->build(OpKind::Reshape, {a}, attr({{"shape", std::vector<int64_t>{-1}}}));
      break;
    }
    case 9: {
      if (rank != 2)
        return false;
      Value w = newLeaf({s[1], pick(1, 7)});
      out = g_->build(OpKind::Matmul, {a, w});
      break;
    }
    case 10: {
      if (rank < 1)
        return false;
      out = g_->build(chance(0.5) ? OpKind::Softmax : OpKind::LogSoftmax, {a},
                      attr({{"axis", int64_t{pick(0, static_cast<int>(rank) - 1)}}}));
      break;
    }
    case 11: {
      if (rank != 4 || s[2] < 3 || s[3] < 3)
        return false;
      Value w = newLeaf({pick(1, 4), s[1], pick(1, 3), pick(1, 3)});
      std::vector<int64_t> stride{pick(1, 2), pick(1, 2)};
      Attr pad = chance(0.5) ? Attr(std::string("valid")) : Attr(std::string("same"));
      out = g_->build(OpKind::Conv2d, {a, w}, attr({{"stride", stride}, {"padding", pad}}));
      break;
    }
    case 12: {
      if (rank != 4 || s[2] < 2 || s[3] < 2)
        return false;
      OpKind k = chance(0.5) ? OpKind::MaxPool2d : OpKind::AvgPool2d;
      AttrMap m = attr({{"kernel", std::vector<int64_t>{2, 2}}});
      if (chance(0.3)) {
        m.set("stride", std::vector<int64_t>{1, 1});
        m.set("padding", std::string("same"));
      }
      out = g_->build(k, {a}, m);
      break;
    }
    case 13: {
      Value b = newLeaf(broadcastable(s));
      Value c = g_->build(OpKind::Cmp, {a, b}, attr({{"pred", std::string(chance(0.5) ? "lt" : "ge")}}));
      out = g_->build(OpKind::Select, {c, a, b});
      break;
    }
    }
    pool_.push_back(out);
    return true;
  }

  std::mt19937 rng_;
  RandomGraphOptions opt_;
  std::unique_ptr<Graph> g_;
  std::vector<Value> pool_;
  int leaves_ = 0;
};

} // namespace

std::unique_ptr<Graph> randomGraph(uint32_t seed, const RandomGraphOptions &opt) {
  return Generator(seed, opt).run();
}

int randomGraphCount(int fallback) {
  const char *n = std::getenv("KILN_RANDOM_GRAPHS");
  return n ? std::atoi(n) : fallback;
}

::testing::AssertionResult randomGraphMatchesInterpreter(uint32_t seed, const std::string &backend, double tol) {
  std::unique_ptr<Graph> g = randomGraph(seed);
  bool fused = seed % 2 == 0;
  if (fused) {
    // Fusion is another stage's responsibility: when it rejects a graph,
    // say so and test the unfused graph.
    std::unique_ptr<Graph> copy = g->clone();
    try {
      PassManager pm;
      const char *pipeline = std::getenv("KILN_RANDOM_FUSE");
      pm.addPipeline(pipeline ? pipeline : "fuse");
      PassContext ctx;
      ctx.backend = backend;
      pm.run(*copy, ctx);
      g = std::move(copy);
    } catch (const std::exception &e) {
      fused = false;
      std::cerr << "note: fuse failed on random graph seed " << seed << ": " << e.what() << "\n";
    }
  }
  ::testing::AssertionResult r = ::testing::AssertionFailure();
  try {
    r = sameAsInterpreter(*g, backend, tol, {}, false, seed);
  } catch (const std::exception &e) {
    r = ::testing::AssertionFailure() << "exception: " << e.what();
  }
  if (!r)
    r << "\nrandom graph seed " << seed << (fused ? " (fused)" : "") << " on " << backend << ":\n" << toText(*g);
  return r;
}

} // namespace kiln::test
