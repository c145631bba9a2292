// frontend/Tensor.cpp - the DSL's Tensor handle and free functions: one node per call.
#include "frontend/Tensor.h"

#include "ir/Error.h"

#include <string_view>

namespace kiln {

Graph &Tensor::graph() const {
  KILN_INTERNAL_CHECK(graph_ != nullptr) << "use of a null tensor";
  return *graph_;
}

int64_t Tensor::dim(int64_t axis) const {
  int64_t r = static_cast<int64_t>(rank());
  int64_t a = axis < 0 ? axis + r : axis;
  KILN_USER_CHECK(a >= 0 && a < r) << "axis " << axis << " out of range for " << typeString(type());
  return shape()[static_cast<size_t>(a)];
}

Tensor &Tensor::named(std::string name) {
  KILN_INTERNAL_CHECK(value_.node != nullptr) << "naming a null tensor";
  value_.node->setName(std::move(name));
  return *this;
}

std::string locationString(const std::source_location &loc) {
  std::string_view file = loc.file_name();
  size_t slash = file.find_last_of('/');
  if (slash != std::string_view::npos)
    file.remove_prefix(slash + 1);
  return std::string(file) + ":" + std::to_string(loc.line());
}

namespace {

/// The one graph of a set of operands; UserError when they come from different graphs.
Graph &commonGraph(std::initializer_list<const Tensor *> ts, const Loc &loc, std::string_view op) {
  Graph *g = nullptr;
  for (const Tensor *t : ts) {
    KILN_USER_CHECK(static_cast<bool>(*t)) << locationString(loc) << ": " << op << ": null tensor operand";
    if (!g)
      g = &t->graph();
    KILN_USER_CHECK(&t->graph() == g) << locationString(loc) << ": " << op
                                      << ": operands belong to different graphs";
  }
  return *g;
}

Tensor build1(OpKind k, const Tensor &x, AttrMap attrs, const Loc &loc) {
  Graph &g = commonGraph({&x}, loc, opInfo(k).mnemonic);
  return Tensor(g, g.build(k, {x.value()}, std::move(attrs), locationString(loc)));
}

Tensor build2(OpKind k, const Tensor &a, const Tensor &b, AttrMap attrs, const Loc &loc) {
  Graph &g = commonGraph({&a, &b}, loc, opInfo(k).mnemonic);
  return Tensor(g, g.build(k, {a.value(), b.value()}, std::move(attrs), locationString(loc)));
}

AttrMap broadcastAttrs(std::vector<int64_t> dims) {
  AttrMap m;
  if (!dims.empty())
    m.set("broadcast", std::move(dims));
  return m;
}

AttrMap reduceAttrs(std::vector<int64_t> axes, bool keepdims) {
  AttrMap m;
  m.set("axes", std::move(axes));
  m.set("keepdims", keepdims);
  return m;
}

AttrMap poolAttrs(std::vector<int64_t> kernel, std::vector<int64_t> stride, Padding padding) {
  AttrMap m;
  m.set("kernel", std::move(kernel));
  m.set("stride", std::move(stride));
  m.set("padding", std::move(padding.attr));
  return m;
}

} // namespace

// ---- Sources ----------------------------------------------------------------
Tensor input(Graph &g, std::string name, TensorType t) { return Tensor(g, g.addInput(std::move(name), t)); }
Tensor parameter(Graph &g, std::string name, TensorType t) {
  return Tensor(g, g.addParam(std::move(name), t));
}
Tensor state(Graph &g, std::string name, TensorType t) { return Tensor(g, g.addState(std::move(name), t)); }
Tensor constant(Graph &g, double value, TensorType t, Loc loc) {
  Value v = g.constant(value, t);
  if (v.node->location().empty())
    v.node->setLocation(locationString(loc));
  return Tensor(g, v);
}

// ---- Elementwise ------------------------------------------------------------
Tensor neg(const Tensor &x, Loc loc) { return build1(OpKind::Neg, x, {}, loc); }
Tensor exp(const Tensor &x, Loc loc) { return build1(OpKind::Exp, x, {}, loc); }
Tensor log(const Tensor &x, Loc loc) { return build1(OpKind::Log, x, {}, loc); }
Tensor sqrt(const Tensor &x, Loc loc) { return build1(OpKind::Sqrt, x, {}, loc); }
Tensor rsqrt(const Tensor &x, Loc loc) { return build1(OpKind::Rsqrt, x, {}, loc); }
Tensor abs(const Tensor &x, Loc loc) { return build1(OpKind::Abs, x, {}, loc); }
Tensor relu(const Tensor &x, Loc loc) { return build1(OpKind::Relu, x, {}, loc); }
Tensor sigmoid(const Tensor &x, Loc loc) { return build1(OpKind::Sigmoid, x, {}, loc); }
Tensor tanh(const Tensor &x, Loc loc) { return build1(OpKind::Tanh, x, {}, loc); }
Tensor cast(const Tensor &x, DType t, Loc loc) {
  AttrMap m;
  m.set("dtype", std::string(dtypeName(t)));
  return build1(OpKind::Cast, x, std::move(m), loc);
}

Tensor add(const Tensor &a, const Tensor &b, std::vector<int64_t> bc, Loc loc) {
  return build2(OpKind::Add, a, b, broadcastAttrs(std::move(bc)), loc);
}
Tensor sub(const Tensor &a, const Tensor &b, std::vector<int64_t> bc, Loc loc) {
  return build2(OpKind::Sub, a, b, broadcastAttrs(std::move(bc)), loc);
}
Tensor mul(const Tensor &a, const Tensor &b, std::vector<int64_t> bc, Loc loc) {
  return build2(OpKind::Mul, a, b, broadcastAttrs(std::move(bc)), loc);
}
Tensor div(const Tensor &a, const Tensor &b, std::vector<int64_t> bc, Loc loc) {
  return build2(OpKind::Div, a, b, broadcastAttrs(std::move(bc)), loc);
}
Tensor maximum(const Tensor &a, const Tensor &b, Loc loc) { return build2(OpKind::Maximum, a, b, {}, loc); }
Tensor minimum(const Tensor &a, const Tensor &b, Loc loc) { return build2(OpKind::Minimum, a, b, {}, loc); }

Tensor scalarLike(const Tensor &x, double v, Loc loc) {
  Graph &g = commonGraph({&x}, loc, "constant");
  return constant(g, v, TensorType{x.dtype(), {}}, loc);
}

Tensor cmp(const Tensor &a, const Tensor &b, std::string pred, Loc loc) {
  AttrMap m;
  m.set("pred", std::move(pred));
  return build2(OpKind::Cmp, a, b, std::move(m), loc);
}
Tensor less(const Tensor &a, const Tensor &b, Loc loc) { return cmp(a, b, "lt", loc); }
Tensor lessEqual(const Tensor &a, const Tensor &b, Loc loc) { return cmp(a, b, "le", loc); }
Tensor greater(const Tensor &a, const Tensor &b, Loc loc) { return cmp(a, b, "gt", loc); }
Tensor greaterEqual(const Tensor &a, const Tensor &b, Loc loc) { return cmp(a, b, "ge", loc); }
Tensor equal(const Tensor &a, const Tensor &b, Loc loc) { return cmp(a, b, "eq", loc); }
Tensor notEqual(const Tensor &a, const Tensor &b, Loc loc) { return cmp(a, b, "ne", loc); }

Tensor select(const Tensor &cond, const Tensor &a, const Tensor &b, Loc loc) {
  Graph &g = commonGraph({&cond, &a, &b}, loc, "select");
  return Tensor(g, g.build(OpKind::Select, {cond.value(), a.value(), b.value()}, {}, locationString(loc)));
}

Tensor dropout(const Tensor &x, const Tensor &key, double rate, int64_t seed, Loc loc) {
  AttrMap m;
  m.set("rate", rate);
  m.set("seed", seed);
  return build2(OpKind::Dropout, x, key, std::move(m), loc);
}

// ---- Layout -----------------------------------------------------------------
Tensor reshape(const Tensor &x, Shape shape, Loc loc) {
  AttrMap m;
  m.set("shape", std::move(shape));
  return build1(OpKind::Reshape, x, std::move(m), loc);
}
Tensor flatten(const Tensor &x, int64_t axis, Loc loc) {
  AttrMap m;
  m.set("axis", axis);
  return build1(OpKind::Flatten, x, std::move(m), loc);
}
Tensor transpose(const Tensor &x, std::vector<int64_t> perm, Loc loc) {
  AttrMap m;
  m.set("perm", std::move(perm));
  return build1(OpKind::Transpose, x, std::move(m), loc);
}
Tensor broadcast_to(const Tensor &x, Shape shape, std::vector<int64_t> dims, Loc loc) {
  AttrMap m;
  m.set("shape", std::move(shape));
  m.set("dims", std::move(dims));
  return build1(OpKind::Broadcast, x, std::move(m), loc);
}

// ---- Reductions -------------------------------------------------------------
Tensor reduce_sum(const Tensor &x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return build1(OpKind::ReduceSum, x, reduceAttrs(std::move(axes), keepdims), loc);
}
Tensor reduce_mean(const Tensor &x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return build1(OpKind::ReduceMean, x, reduceAttrs(std::move(axes), keepdims), loc);
}
Tensor reduce_max(const Tensor &x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return build1(OpKind::ReduceMax, x, reduceAttrs(std::move(axes), keepdims), loc);
}
Tensor argmax(const Tensor &x, int64_t axis, bool keepdims, Loc loc) {
  AttrMap m;
  m.set("axis", axis);
  m.set("keepdims", keepdims);
  return build1(OpKind::Argmax, x, std::move(m), loc);
}

// ---- Matmul, conv, pooling --------------------------------------------------
Tensor matmul(const Tensor &a, const Tensor &b, bool transposeA, bool transposeB, Loc loc) {
  AttrMap m;
  m.set("transpose_a", transposeA);
  m.set("transpose_b", transposeB);
  return build2(OpKind::Matmul, a, b, std::move(m), loc);
}
Tensor conv2d(const Tensor &x, const Tensor &w, std::vector<int64_t> stride, Padding padding, Loc loc) {
  AttrMap m;
  m.set("stride", std::move(stride));
  m.set("padding", std::move(padding.attr));
  return build2(OpKind::Conv2d, x, w, std::move(m), loc);
}
Tensor max_pool2d(const Tensor &x, std::vector<int64_t> kernel, std::vector<int64_t> stride, Padding padding,
                  Loc loc) {
  return build1(OpKind::MaxPool2d, x, poolAttrs(std::move(kernel), std::move(stride), std::move(padding)), loc);
}
Tensor avg_pool2d(const Tensor &x, std::vector<int64_t> kernel, std::vector<int64_t> stride, Padding padding,
                  Loc loc) {
  return build1(OpKind::AvgPool2d, x, poolAttrs(std::move(kernel), std::move(stride), std::move(padding)), loc);
}

// ---- Softmax and losses -----------------------------------------------------
Tensor softmax(const Tensor &x, int64_t axis, Loc loc) {
  AttrMap m;
  m.set("axis", axis);
  return build1(OpKind::Softmax, x, std::move(m), loc);
}
Tensor log_softmax(const Tensor &x, int64_t axis, Loc loc) {
  AttrMap m;
  m.set("axis", axis);
  return build1(OpKind::LogSoftmax, x, std::move(m), loc);
}
Tensor softmax_cross_entropy(const Tensor &logits, const Tensor &labels, Loc loc) {
  return build2(OpKind::SoftmaxCrossEntropy, logits, labels, {}, loc);
}
Tensor one_hot(const Tensor &labels, int64_t depth, DType t, Loc loc) {
  AttrMap m;
  m.set("depth", depth);
  m.set("dtype", std::string(dtypeName(t)));
  return build1(OpKind::OneHot, labels, std::move(m), loc);
}

// ---- Effects ----------------------------------------------------------------
void assign(const Tensor &target, const Tensor &value, Loc loc) {
  Graph &g = commonGraph({&target, &value}, loc, "assign");
  g.create(OpKind::Assign, {target.value(), value.value()}, {}, locationString(loc));
}

// ---- Operators --------------------------------------------------------------
Tensor operator-(Located x) { return neg(x.tensor, x.loc); }
Tensor operator+(Located a, const Tensor &b) { return add(a.tensor, b, {}, a.loc); }
Tensor operator-(Located a, const Tensor &b) { return sub(a.tensor, b, {}, a.loc); }
Tensor operator*(Located a, const Tensor &b) { return mul(a.tensor, b, {}, a.loc); }
Tensor operator/(Located a, const Tensor &b) { return div(a.tensor, b, {}, a.loc); }
Tensor operator+(Located a, double b) { return add(a.tensor, scalarLike(a.tensor, b, a.loc), {}, a.loc); }
Tensor operator-(Located a, double b) { return sub(a.tensor, scalarLike(a.tensor, b, a.loc), {}, a.loc); }
Tensor operator*(Located a, double b) { return mul(a.tensor, scalarLike(a.tensor, b, a.loc), {}, a.loc); }
Tensor operator/(Located a, double b) { return div(a.tensor, scalarLike(a.tensor, b, a.loc), {}, a.loc); }
Tensor operator+(double a, Located b) { return add(scalarLike(b.tensor, a, b.loc), b.tensor, {}, b.loc); }
Tensor operator-(double a, Located b) { return sub(scalarLike(b.tensor, a, b.loc), b.tensor, {}, b.loc); }
Tensor operator*(double a, Located b) { return mul(scalarLike(b.tensor, a, b.loc), b.tensor, {}, b.loc); }
Tensor operator/(double a, Located b) { return div(scalarLike(b.tensor, a, b.loc), b.tensor, {}, b.loc); }

} // namespace kiln
