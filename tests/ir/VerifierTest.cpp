// tests/ir/VerifierTest.cpp - verify() on valid graphs and on hand-broken ones.
//
// Each broken graph violates one invariant; the test checks the message names
// the node (as the printer shows it), the location and the numbers.
#include "ir/Error.h"
#include "ir/Graph.h"
#include "tests/support/OpCheck.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

using test::f32;

/// verify(g) must throw UserError containing `fragment`.
void expectInvalid(const Graph &g, const std::string &fragment) {
  try {
    verify(g);
    FAIL() << "graph verified, expected: " << fragment;
  } catch (const UserError &e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message: " << e.what() << "\nexpected fragment: " << fragment;
  }
}

struct Small {
  Graph g{"s"};
  Value x = g.addInput("x", f32({2, 3}));
  Value w = g.addParam("w", f32({3, 4}));
  Value acc = g.addState("acc", f32({2, 4}));
  Value mm = g.build(OpKind::Matmul, {x, w});
  Value r = g.build(OpKind::Relu, {mm});
  Small() { g.setOutputs({r}); }
};

TEST(Verifier, AcceptsWellFormedGraph) {
  Small s;
  s.g.create(OpKind::Assign, {s.acc, s.r});
  EXPECT_NO_THROW(verify(s.g));
}

TEST(Verifier, ResultTypeDiffersFromInference) {
  Small s;
  s.mm.node->setResultTypes({f32({2, 5})});
  s.mm.node->setLocation("net.kir:4:3");
  expectInvalid(s.g, "net.kir:4:3: matmul %0: result type f32[2,5] differs from inferred f32[2,4]");
}

TEST(Verifier, WithoutLocationNamesTheGraph) {
  Small s;
  s.r.node->setName("act");
  s.r.node->setResultTypes({{DType::F64, {2, 4}}});
  expectInvalid(s.g, "@s: relu %act: result type f64[2,4] differs from inferred f32[2,4]");
}

TEST(Verifier, InferenceErrorsCarryLocationAndNode) {
  Small s;
  s.mm.node->setOperand(1, s.x); // [2,3] x [2,3]
  s.mm.node->setLocation("m.kir:9:1");
  expectInvalid(s.g, "m.kir:9:1: matmul %0: ");
}

TEST(Verifier, UseBeforeDefinition) {
  Small s;
  // relu now comes before the matmul it uses.
  s.g.moveBefore(s.r.node, s.mm.node);
  expectInvalid(s.g, "relu %0: operand 0 uses %1 before its definition");
}

TEST(Verifier, ValueOfAnotherGraph) {
  Small s;
  Graph other("other");
  Value foreign = other.addInput("z", f32({2, 4}));
  s.r.node->setOperand(0, foreign);
  expectInvalid(s.g, "relu %1: operand 0 uses a value of another graph");
}

TEST(Verifier, WrongOperandCount) {
  Small s;
  s.g.createUnchecked(OpKind::Add, {s.r}, {}, {f32({2, 4})}, "a.kir:7:3");
  expectInvalid(s.g, "a.kir:7:3: add %2: expected 2 operands, got 1");
}

TEST(Verifier, MissingAndIllTypedAttributes) {
  Small s;
  Node *cast = s.g.createUnchecked(OpKind::Cast, {s.r}, {}, {{DType::F64, {2, 4}}});
  expectInvalid(s.g, "cast %2: missing attribute 'dtype'");
  AttrMap bad;
  bad.set("dtype", int64_t{3});
  cast->attrs() = bad;
  expectInvalid(s.g, "cast %2: attribute 'dtype' must be a string, got 3");
  AttrMap unknown;
  unknown.set("dtype", std::string("f64"));
  unknown.set("mode", std::string("x"));
  cast->attrs() = unknown;
  expectInvalid(s.g, "cast %2: unknown attribute 'mode'");
}

TEST(Verifier, AssignTargetMustBeParameterOrState) {
  Small s;
  s.g.create(OpKind::Assign, {s.x, s.x}, {}, "u.kir:3:3");
  expectInvalid(s.g, "u.kir:3:3: assign: target %x is not a parameter or state of @s");
}

TEST(Verifier, AssignTypesMustMatch) {
  Small s;
  s.g.createUnchecked(OpKind::Assign, {s.w, s.r}, {}, {}, "t.kir:8:3");
  // Whether inference or the assign check catches it, the message names both types.
  expectInvalid(s.g, "t.kir:8:3: assign: ");
  try {
    verify(s.g);
  } catch (const UserError &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("f32[2,4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("f32[3,4]"), std::string::npos) << msg;
  }
}

TEST(Verifier, SignatureOpsOnlyInSignature) {
  Small s;
  s.g.createUnchecked(OpKind::Input, {}, {}, {f32({1})});
  expectInvalid(s.g, "'input' may only appear in the graph signature");
}

TEST(Verifier, OutputsMustBeDefined) {
  Small s;
  Graph other("o");
  s.g.setOutputs({other.addInput("q", f32({1}))});
  expectInvalid(s.g, "@s: output 0 uses a value of another graph");
}

/// A fused node over `operands` whose body applies relu to arg0 and yields it.
Node *reluRegion(Graph &g, std::vector<Value> operands, std::vector<TensorType> argTypes, TensorType resultType) {
  auto body = std::make_unique<Graph>("r");
  for (size_t i = 0; i < argTypes.size(); ++i)
    body->addInput("arg" + std::to_string(i), argTypes[i]);
  body->setOutputs({body->build(OpKind::Relu, {body->inputs()[0]->result(0)})});
  AttrMap a;
  a.set("name", std::string("r"));
  Node *n = g.createUnchecked(OpKind::Fused, std::move(operands), a, {resultType});
  n->setBody(std::move(body));
  return n;
}

TEST(Verifier, FusedRegionsAreCheckedRecursively) {
  {
    Small s;
    reluRegion(s.g, {s.r}, {f32({2, 4})}, f32({2, 4}));
    EXPECT_NO_THROW(verify(s.g));
  }
  {
    Small s;
    reluRegion(s.g, {s.r}, {f32({2, 5})}, f32({2, 5}));
    expectInvalid(s.g, "fused %2: region arguments (f32[2,5]) differ from operands (f32[2,4])");
  }
  {
    Small s;
    reluRegion(s.g, {s.r}, {f32({2, 4})}, f32({4, 2}));
    expectInvalid(s.g, "fused %2: region yields (f32[2,4]) but the node has results (f32[4,2])");
  }
  {
    Small s;
    Node *f = reluRegion(s.g, {s.r}, {f32({2, 4})}, f32({2, 4}));
    Node *inner = f->body()->nodes()[0];
    inner->setResultTypes({f32({8})});
    inner->setLocation("in.kir:5:7");
    expectInvalid(s.g, "in.kir:5:7: relu %0: result type f32[8] differs from inferred f32[2,4]");
  }
  {
    Small s;
    AttrMap a;
    a.set("name", std::string("r"));
    s.g.createUnchecked(OpKind::Fused, {s.r}, a, {f32({2, 4})});
    expectInvalid(s.g, "fused %2: fused node without a region");
  }
}

} // namespace
} // namespace kiln
