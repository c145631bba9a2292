// tests/ir/TextFormatTest.cpp - the IR text format: exact printed text and round trips.
//
// Expected texts are written out by hand from the format's definition, then
// every case also checks print -> parse -> print is byte-identical.
#include "ir/Error.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "tests/support/OpCheck.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiln {
namespace {

using test::f32;

/// print(parse(text)) must equal `text`, and printing is stable from there.
void expectRoundTrip(const std::string &text) {
  std::unique_ptr<Graph> g = parseGraph(text, "rt.kir");
  std::string once = toText(*g);
  EXPECT_EQ(once, text);
  EXPECT_EQ(toText(*parseGraph(once, "rt2.kir")), once);
}

TEST(TextFormat, PrintsMlpBuiltInCpp) {
  Graph g("mlp");
  Value x = g.addInput("x", f32({4, 8}));
  Value y = g.addInput("y", {DType::I32, {4}});
  Value w1 = g.addParam("w1", f32({8, 16}));
  Value b1 = g.addParam("b1", f32({16}));
  Value h0 = g.build(OpKind::Matmul, {x, w1});
  Value h1 = g.build(OpKind::Add, {h0, b1});
  h1.node->setName("h1");
  Value h = g.build(OpKind::Relu, {h1});
  AttrMap perm;
  perm.set("perm", std::vector<int64_t>{1, 0});
  Value logits = g.build(OpKind::Matmul, {h, g.build(OpKind::Transpose, {w1}, perm)});
  logits.node->setName("logits");
  AttrMap tb;
  tb.set("transpose_b", true);
  Value same = g.build(OpKind::Matmul, {h, w1}, tb);
  Value loss = g.build(OpKind::SoftmaxCrossEntropy, {logits, y});
  loss.node->setName("loss");
  g.create(OpKind::Assign, {b1, g.build(OpKind::Neg, {b1})});
  g.setOutputs({loss, same});
  const std::string expected =
      "graph @mlp(%x: f32[4,8], %y: i32[4]) params(%w1: f32[8,16], %b1: f32[16]) {\n"
      "  %0 = matmul(%x, %w1) : f32[4,16]\n"
      "  %h1 = add(%0, %b1) : f32[4,16]\n"
      "  %1 = relu(%h1) : f32[4,16]\n"
      "  %2 = transpose(%w1) {perm = [1,0]} : f32[16,8]\n"
      "  %logits = matmul(%1, %2) : f32[4,8]\n"
      "  %3 = matmul(%1, %w1) {transpose_b = true} : f32[4,8]\n"
      "  %loss = softmax_cross_entropy(%logits, %y) : f32[]\n"
      "  %4 = neg(%b1) : f32[16]\n"
      "  assign(%b1, %4)\n"
      "  return %loss, %3 : f32[], f32[4,8]\n"
      "}\n";
  EXPECT_EQ(toText(g), expected);
  expectRoundTrip(expected);
}

TEST(TextFormat, AttributesInDeclarationOrderWithPrintDefaults) {
  Graph g("conv");
  Value x = g.addInput("x", f32({2, 3, 9, 9}));
  Value w = g.addParam("w", f32({4, 3, 3, 3}));
  AttrMap a;
  a.set("padding", std::string("same"));
  a.set("stride", std::vector<int64_t>{2, 2});
  Value c = g.build(OpKind::Conv2d, {x, w}, a);
  Value d = g.build(OpKind::Conv2d, {x, w});
  AttrMap bc;
  bc.set("broadcast", std::vector<int64_t>{1});
  Value bias = g.addParam("b", f32({4}));
  Value e = g.build(OpKind::Add, {d, bias}, bc);
  Value p = g.build(OpKind::MaxPool2d, {e});
  AttrMap pad;
  pad.set("padding", std::vector<int64_t>{1, 0, 1, 0});
  Value q = g.build(OpKind::Conv2d, {x, w}, pad);
  g.setOutputs({c, p, q});
  const std::string expected =
      "graph @conv(%x: f32[2,3,9,9]) params(%w: f32[4,3,3,3], %b: f32[4]) {\n"
      "  %0 = conv2d(%x, %w) {stride = [2,2], padding = \"same\"} : f32[2,4,5,5]\n"
      "  %1 = conv2d(%x, %w) {stride = [1,1], padding = \"valid\"} : f32[2,4,7,7]\n"
      "  %2 = add(%1, %b) {broadcast = [1]} : f32[2,4,7,7]\n"
      "  %3 = max_pool2d(%2) {kernel = [2,2]} : f32[2,4,3,3]\n"
      "  %4 = conv2d(%x, %w) {stride = [1,1], padding = [1,0,1,0]} : f32[2,4,9,7]\n"
      "  return %0, %3, %4 : f32[2,4,5,5], f32[2,4,3,3], f32[2,4,9,7]\n"
      "}\n";
  EXPECT_EQ(toText(g), expected);
  expectRoundTrip(expected);
}

TEST(TextFormat, NamesClashingOrInvalidFallBackToNumbers) {
  Graph g("names");
  Value x = g.addInput("x", f32({3}));
  Value a = g.build(OpKind::Exp, {x});
  a.node->setName("x"); // clashes with the input
  Value b = g.build(OpKind::Neg, {a});
  b.node->setName("7"); // not an identifier
  Value c = g.build(OpKind::Abs, {b});
  c.node->setName("v.1");
  Value d = g.build(OpKind::Relu, {c});
  d.node->setName("v.1"); // duplicate
  g.setOutputs({d});
  const std::string expected = "graph @names(%x: f32[3]) {\n"
                               "  %0 = exp(%x) : f32[3]\n"
                               "  %1 = neg(%0) : f32[3]\n"
                               "  %v.1 = abs(%1) : f32[3]\n"
                               "  %2 = relu(%v.1) : f32[3]\n"
                               "  return %2 : f32[3]\n"
                               "}\n";
  EXPECT_EQ(toText(g), expected);
  expectRoundTrip(expected);
}

TEST(TextFormat, QuotedSignatureNamesAndEmptyReturn) {
  Graph g("my graph");
  Value x = g.addInput("input image", f32({2}));
  g.addInput("0", f32({}));
  Value s = g.addState("acc", f32({2}));
  g.create(OpKind::Assign, {s, g.build(OpKind::Add, {s, x})});
  const std::string expected = "graph @\"my graph\"(%\"input image\": f32[2], %\"0\": f32[]) state(%acc: f32[2]) {\n"
                               "  %0 = add(%acc, %\"input image\") : f32[2]\n"
                               "  assign(%acc, %0)\n"
                               "  return\n"
                               "}\n";
  EXPECT_EQ(toText(g), expected);
  expectRoundTrip(expected);
}

TEST(TextFormat, ConstantsAndFloatAttributesRoundTrip) {
  const std::string text = "graph @c(%k: i64[]) {\n"
                           "  %a = constant() {value = 1e-07, dtype = \"f32\", shape = [2,3]} : f32[2,3]\n"
                           "  %b = constant() {value = -inf, dtype = \"f64\", shape = []} : f64[]\n"
                           "  %c = constant() {value = 0.1, dtype = \"f32\", shape = []} : f32[]\n"
                           "  %d = dropout(%a, %k) {rate = 0.2, seed = 7} : f32[2,3]\n"
                           "  %e = cast(%b) {dtype = \"f32\"} : f32[]\n"
                           "  %f = mul(%d, %c) : f32[2,3]\n"
                           "  return %f, %e : f32[2,3], f32[]\n"
                           "}\n";
  expectRoundTrip(text);
  std::unique_ptr<Graph> g = parseGraph(text);
  EXPECT_EQ(g->nodes()[0]->attrs().getFloat("value"), 1e-07);
  EXPECT_EQ(g->nodes()[3]->attrs().getInt("seed"), 7);
}

TEST(TextFormat, ParserNormalizesSpacingNumbersAndDefaults) {
  // Free spacing, comments, explicit default attributes and non-sequential numbers.
  const std::string messy = "// RUN: kiln opt %s\n"
                            "graph   @m ( %x : f32[2, 2] ) {  // header\n"
                            "  %10 = add(%x,%x) {broadcast = []}: f32[2,2]\n"
                            "  %4=relu( %10 ) :f32[2,2]\n"
                            "  return %4 : f32[2,2] }";
  const std::string expected = "graph @m(%x: f32[2,2]) {\n"
                               "  %0 = add(%x, %x) : f32[2,2]\n"
                               "  %1 = relu(%0) : f32[2,2]\n"
                               "  return %1 : f32[2,2]\n"
                               "}\n";
  EXPECT_EQ(toText(*parseGraph(messy)), expected);
}

/// Builds the body of a region with inputs arg0.. of the given types.
std::unique_ptr<Graph> regionBody(const std::vector<TensorType> &args) {
  auto body = std::make_unique<Graph>("region");
  for (size_t i = 0; i < args.size(); ++i)
    body->addInput("arg" + std::to_string(i), args[i]);
  return body;
}

TEST(TextFormat, FusedRegionBuiltInCpp) {
  Graph g("f");
  Value x = g.addInput("x", f32({2, 3}));
  Value b = g.addParam("b", f32({3}));
  auto body = regionBody({f32({2, 3}), f32({3})});
  Value s = body->build(OpKind::Add, {body->inputs()[0]->result(0), body->inputs()[1]->result(0)});
  Value r = body->build(OpKind::Relu, {s});
  r.node->setName("r");
  body->setOutputs({r, s});
  AttrMap a;
  a.set("name", std::string("bias_relu"));
  Node *f = g.createUnchecked(OpKind::Fused, {x, b}, a, {f32({2, 3}), f32({2, 3})});
  f->setBody(std::move(body));
  Value out = g.build(OpKind::Sub, {f->result(0), f->result(1)});
  g.setOutputs({out});
  verify(g);
  const std::string expected = "graph @f(%x: f32[2,3]) params(%b: f32[3]) {\n"
                               "  %0, %1 = fused(%x, %b) {name = \"bias_relu\"} : f32[2,3], f32[2,3] {\n"
                               "    ^(%arg0: f32[2,3], %arg1: f32[3])\n"
                               "    %0 = add(%arg0, %arg1) : f32[2,3]\n"
                               "    %r = relu(%0) : f32[2,3]\n"
                               "    yield %r, %0 : f32[2,3], f32[2,3]\n"
                               "  }\n"
                               "  %2 = sub(%0, %1) : f32[2,3]\n"
                               "  return %2 : f32[2,3]\n"
                               "}\n";
  EXPECT_EQ(toText(g), expected);
  expectRoundTrip(expected);
  std::unique_ptr<Graph> parsed = parseGraph(expected);
  ASSERT_EQ(parsed->nodes().size(), 2u);
  const Graph *pb = parsed->nodes()[0]->body();
  ASSERT_NE(pb, nullptr);
  EXPECT_EQ(pb->nodes().size(), 2u);
  EXPECT_EQ(pb->outputs().size(), 2u);
}

TEST(TextFormat, NestedRegionsRoundTrip) {
  const std::string text = "graph @n(%x: f32[4]) {\n"
                           "  %0 = fused(%x) {name = \"outer\"} : f32[4] {\n"
                           "    ^(%arg0: f32[4])\n"
                           "    %0 = fused(%arg0) {name = \"inner\"} : f32[4] {\n"
                           "      ^(%arg0: f32[4])\n"
                           "      %0 = exp(%arg0) : f32[4]\n"
                           "      yield %0 : f32[4]\n"
                           "    }\n"
                           "    %1 = neg(%0) : f32[4]\n"
                           "    yield %1 : f32[4]\n"
                           "  }\n"
                           "  return %0 : f32[4]\n"
                           "}\n";
  expectRoundTrip(text);
}

/// A file's text without its `//` comment lines.
std::string withoutCommentLines(const std::string &path) {
  std::ifstream in(path);
  std::string line, out;
  while (std::getline(in, line))
    if (line.rfind("//", 0) != 0)
      out += line + "\n";
  return out;
}

TEST(TextFormat, EveryExampleFileIsCanonicalAndRoundTrips) {
  int count = 0;
  for (const auto &entry : std::filesystem::directory_iterator(KILN_SOURCE_DIR "/examples")) {
    if (entry.path().extension() != ".kir")
      continue;
    SCOPED_TRACE(entry.path().string());
    ++count;
    std::unique_ptr<Graph> g = parseGraphFile(entry.path().string());
    std::string text = toText(*g);
    EXPECT_EQ(text, withoutCommentLines(entry.path().string()));
    EXPECT_EQ(toText(*parseGraph(text)), text);
  }
  EXPECT_GE(count, 3);
}

TEST(TextFormat, ParseGraphFileReportsMissingFile) {
  EXPECT_THROW(parseGraphFile("/nonexistent/dir/none.kir"), RuntimeError);
}

} // namespace
} // namespace kiln
