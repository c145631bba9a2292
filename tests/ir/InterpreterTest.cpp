// tests/ir/InterpreterTest.cpp - the reference interpreter: environment checks,
// assign semantics, fused regions, float64 runs and widenToF64.
#include "ir/Error.h"
#include "ir/Interpreter.h"
#include "ir/Printer.h"
#include "tests/support/TestSupport.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

using test::tensorOf;
using test::userErrorOf;

const TensorType kF32x3{DType::F32, {3}};

// Counting elements: a zero extent anywhere gives 0 (however large the
// rest), a product past int64 is a user error naming the shape.
TEST(Types, NumElementsNeverOverflows) {
  EXPECT_EQ(numElements({774853655, 15073700002, 0, 1}), 0);
  EXPECT_EQ(numElements({}), 1);
  EXPECT_EQ(numElements({3, 4}), 12);
  try {
    numElements({4294967296, 4294967296});
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError &e) {
    EXPECT_EQ(std::string(e.what()), "shape [4294967296,4294967296] has too many elements");
  }
}

TEST(Interpreter, RunsAChainAndKeepsSharedValues) {
  // y = relu(x) * x; z = y + y; outputs z and y (y also used twice).
  Graph g;
  Value x = g.addInput("x", kF32x3);
  Value y = g.build(OpKind::Mul, {g.build(OpKind::Relu, {x}), x});
  Value z = g.build(OpKind::Add, {y, y});
  g.setOutputs({z, y, x});
  TensorMap env{{"x", tensorOf(kF32x3, {-2, 0.5, 3})}};
  std::vector<HostTensor> out = interpret(g, env);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TENSOR_EQ(out[0], kF32x3, {0, 0.5, 18});
  EXPECT_TENSOR_EQ(out[1], kF32x3, {0, 0.25, 9});
  EXPECT_TENSOR_EQ(out[2], kF32x3, {-2, 0.5, 3});
}

TEST(Interpreter, MissingOrMistypedSignatureValuesAreUserErrors) {
  Graph g("net");
  Value x = g.addInput("x", kF32x3);
  Value w = g.addParam("w", kF32x3);
  g.setOutputs({g.build(OpKind::Mul, {x, w})});
  TensorMap missing{{"x", tensorOf(kF32x3, {1, 2, 3})}};
  EXPECT_NE(userErrorOf([&] { interpret(g, missing); }).find("interpret: missing parameter 'w' of graph @net"),
            std::string::npos);
  TensorMap wrongShape{{"x", tensorOf({DType::F32, {2}}, {1, 2})}, {"w", tensorOf(kF32x3, {1, 2, 3})}};
  EXPECT_NE(userErrorOf([&] { interpret(g, wrongShape); })
                .find("interpret: input 'x' has type f32[2], graph @net expects f32[3]"),
            std::string::npos);
  TensorMap wrongType{{"x", tensorOf({DType::F64, {3}}, {1, 2, 3})}, {"w", tensorOf(kF32x3, {1, 2, 3})}};
  EXPECT_NE(userErrorOf([&] { interpret(g, wrongType); }).find("input 'x' has type f64[3]"), std::string::npos);
}

TEST(Interpreter, AssignWritesAfterTheRun) {
  // w' = w - 0.5 * x; s' = s + 1; the output reads the old w.
  Graph g;
  Value x = g.addInput("x", kF32x3);
  Value w = g.addParam("w", kF32x3);
  Value s = g.addState("s", {DType::F32, {}});
  Value step = g.build(OpKind::Mul, {x, g.constant(0.5, {DType::F32, {}})});
  g.create(OpKind::Assign, {w, g.build(OpKind::Sub, {w, step})});
  g.create(OpKind::Assign, {s, g.build(OpKind::Add, {s, g.constant(1.0, {DType::F32, {}})})});
  g.setOutputs({g.build(OpKind::Mul, {w, g.constant(2.0, {DType::F32, {}})})});
  verify(g);
  HostTensor w0 = tensorOf(kF32x3, {1, 2, 3});
  TensorMap env{{"x", tensorOf(kF32x3, {2, 4, 6})}, {"w", w0}, {"s", tensorOf({DType::F32, {}}, {0})}};
  std::vector<HostTensor> out = interpret(g, env);
  EXPECT_TENSOR_EQ(out[0], kF32x3, {2, 4, 6});
  EXPECT_TENSOR_EQ(env["w"], kF32x3, {0, 0, 0});
  EXPECT_TENSOR_EQ(env["s"], TensorType{DType::F32, {}}, {1});
  EXPECT_TENSOR_EQ(w0, kF32x3, {1, 2, 3}); // the caller's old tensor is untouched
  interpret(g, env);
  EXPECT_TENSOR_EQ(env["w"], kF32x3, {-1, -2, -3});
  EXPECT_TENSOR_EQ(env["s"], TensorType{DType::F32, {}}, {2});
  // A float64 run keeps the environment's dtypes.
  interpret(g, env, InterpretOptions{.f64 = true});
  EXPECT_EQ(env["w"].dtype(), DType::F32);
  EXPECT_TENSOR_EQ(env["w"], kF32x3, {-2, -4, -6});
}

TEST(Interpreter, FusedRegionRunsItsBody) {
  // fused(a, b) = (relu(a + b), a * b)
  auto body = std::make_unique<Graph>("fused_body");
  Value a = body->addInput("arg0", {DType::F32, {2, 2}});
  Value b = body->addInput("arg1", {DType::F32, {2}});
  body->setOutputs({body->build(OpKind::Relu, {body->build(OpKind::Add, {a, b})}), body->build(OpKind::Mul, {a, b})});
  Graph g;
  Value x = g.addInput("x", {DType::F32, {2, 2}});
  Value y = g.addInput("y", {DType::F32, {2}});
  AttrMap name;
  name.set("name", std::string("fused_add_relu"));
  Node *f = g.createUnchecked(OpKind::Fused, {x, y}, name, {{DType::F32, {2, 2}}, {DType::F32, {2, 2}}});
  f->setBody(std::move(body));
  g.setOutputs({g.build(OpKind::Neg, {f->result(0)}), f->result(1)});
  TensorMap env{{"x", tensorOf({DType::F32, {2, 2}}, {1, -5, 3, 4})}, {"y", tensorOf({DType::F32, {2}}, {1, 2})}};
  std::vector<HostTensor> out = interpret(g, env);
  EXPECT_TENSOR_EQ(out[0], TensorType{DType::F32, {2, 2}}, {-2, 0, -4, -6});
  EXPECT_TENSOR_EQ(out[1], TensorType{DType::F32, {2, 2}}, {1, -10, 3, 8});
  std::vector<HostTensor> wide = interpret(g, env, InterpretOptions{.f64 = true});
  EXPECT_TENSOR_EQ(wide[1], TensorType{DType::F64, {2, 2}}, {1, -10, 3, 8});
}

TEST(Interpreter, Float64RunsAreMorePrecise) {
  // 2^24 + 1 is not an f32: the f32 run loses the 1, the f64 run keeps it.
  Graph g;
  Value x = g.addInput("x", {DType::F32, {}});
  Value one = g.constant(1.0, {DType::F32, {}});
  g.setOutputs({g.build(OpKind::Sub, {g.build(OpKind::Add, {x, one}), x})});
  TensorMap env{{"x", tensorOf({DType::F32, {}}, {16777216})}};
  EXPECT_TENSOR_EQ(interpret(g, env).at(0), TensorType{DType::F32, {}}, {0});
  EXPECT_TENSOR_EQ(interpret(g, env, InterpretOptions{.f64 = true}).at(0), TensorType{DType::F64, {}}, {1});
  // An f64 environment is accepted for an f32 graph in float64 mode.
  TensorMap wideEnv{{"x", tensorOf({DType::F64, {}}, {0.1})}};
  EXPECT_TENSOR_NEAR(interpret(g, wideEnv, InterpretOptions{.f64 = true}).at(0), TensorType{DType::F64, {}}, {1}, 1e-15);
}

TEST(Interpreter, WidenToF64ChangesTypesAndDTypeAttrs) {
  Graph g("w");
  Value x = g.addInput("x", {DType::F32, {2}});
  Value n = g.addInput("n", {DType::I32, {2}});
  Value p = g.addParam("p", {DType::F32, {2}});
  Value c = g.build(OpKind::Cast, {n}, [] { AttrMap m; m.set("dtype", std::string("f32")); return m; }());
  Value i = g.build(OpKind::Cast, {x}, [] { AttrMap m; m.set("dtype", std::string("i32")); return m; }());
  Value sum = g.build(OpKind::Add, {g.build(OpKind::Mul, {x, p}), c});
  g.setOutputs({g.build(OpKind::Add, {sum, g.constant(1.5, {DType::F32, {2}})}), i});
  std::unique_ptr<Graph> w = widenToF64(g);
  verify(*w);
  EXPECT_EQ(w->inputs()[0]->resultType().dtype, DType::F64);
  EXPECT_EQ(w->inputs()[1]->resultType().dtype, DType::I32);
  EXPECT_EQ(w->params()[0]->resultType().dtype, DType::F64);
  std::string text = toText(*w);
  EXPECT_EQ(text.find("f32"), std::string::npos) << text;
  EXPECT_NE(text.find("\"i32\""), std::string::npos) << text;
  EXPECT_EQ(toText(g).find("f64"), std::string::npos); // the original is unchanged
  TensorMap env{{"x", tensorOf({DType::F64, {2}}, {0.1, 2})},
                {"n", tensorOf({DType::I32, {2}}, {3, -1})},
                {"p", tensorOf({DType::F64, {2}}, {3, 0.5})}};
  std::vector<HostTensor> out = interpret(*w, env);
  EXPECT_TENSOR_NEAR(out[0], TensorType{DType::F64, {2}}, {0.1 * 3 + 3 + 1.5, 2 * 0.5 - 1 + 1.5}, 1e-15);
  EXPECT_TENSOR_EQ(out[1], TensorType{DType::I32, {2}}, {0, 2});
}

} // namespace
} // namespace kiln
