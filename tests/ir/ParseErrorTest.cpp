// tests/ir/ParseErrorTest.cpp - malformed IR text: one case per error, with the
// expected message fragment (FILE:LINE:COL and what was expected).
//
// Also checks the parser's guards on hostile input: deep nesting, absurd
// shapes, truncations of a valid file and random byte noise never crash or
// hang; they throw UserError.
#include "ir/Error.h"
#include "ir/Parser.h"
#include "ir/Printer.h"

#include <gtest/gtest.h>

#include <random>

namespace kiln {
namespace {

struct ErrorCase {
  const char *text;
  const char *expected; ///< fragment of the message
};

class ParseError : public testing::TestWithParam<ErrorCase> {};

TEST_P(ParseError, ReportsLocationAndCause) {
  const ErrorCase &c = GetParam();
  try {
    parseGraph(c.text, "t.kir");
    FAIL() << "parsed without error:\n" << c.text;
  } catch (const UserError &e) {
    EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos)
        << "message: " << e.what() << "\nexpected fragment: " << c.expected;
  }
}

const ErrorCase kCases[] = {
    // Syntax.
    {"", "t.kir:1:1: expected 'graph', got end of input"},
    {"grap @g() {\n return\n}", "t.kir:1:1: expected 'graph', got 'grap'"},
    {"graph g() {}", "t.kir:1:7: expected a graph name '@name', got 'g'"},
    {"graph @g(%x f32[2]) {}", "t.kir:1:13: expected ':', got 'f32'"},
    {"graph @g(%x: f32[2] {}", "t.kir:1:21: expected ',' or ')', got '{'"},
    {"graph @g(%x: f32[2]) {\n  %0 = neg(%x) : f32[2]\n", "t.kir:3:1: expected an operation or 'return', got end of input"},
    {"graph @g(%x: f32[2]) {\n  return %x : f32[2]\n} extra", "t.kir:3:3: expected end of input, got 'extra'"},
    {"graph @g(%x: f32[2]) {\n  %0 = neg(%x : f32[2]\n  return %0 : f32[2]\n}", "t.kir:2:15: expected ',' or ')', got ':'"},
    {"graph @g(%x: f32[2]) {\n  %0 = neg(%x)\n  return %0 : f32[2]\n}", "t.kir:3:3: expected ':' and result types, got 'return'"},
    {"graph @g(%x: f32[2]) {\n  %0 neg(%x) : f32[2]\n}", "t.kir:2:6: expected '=', got 'neg'"},
    {"graph @g(%x: f32[2]) {\n  return %x\n}", "t.kir:3:1: expected ':', got '}'"},
    {"graph @g() {\n  %0 = constant() {value = 1.0 dtype = \"f32\"} : f32[]\n}", "t.kir:2:32: expected ',' or '}', got 'dtype'"},
    {"graph @g() {\n  return\n", "t.kir:3:1: expected '}', got end of input"},
    // Lexical.
    {"graph @g(%x: f32[2]) {\n  $\n}", "t.kir:2:3: unexpected character '$'"},
    {"graph @g(% : f32[2]) {}", "t.kir:1:11: expected a name after '%', got ' '"},
    {"graph @g(%x: f32[2]) {\n  %0 = cast(%x) {dtype = \"f3\n", "t.kir:2:26: unterminated string"},
    {"graph @g(%x: f32[2]) {\n  \x01\n}", "t.kir:2:3: unexpected character '\\x01'"},
    // Types and shapes.
    {"graph @g(%x: f33[2]) {}", "t.kir:1:14: unknown element type 'f33'"},
    {"graph @g(%x: f32[2,-3]) {}", "t.kir:1:20: negative dimension -3"},
    {"graph @g(%x: f32[2,a]) {}", "t.kir:1:20: expected a dimension, got 'a'"},
    {"graph @g(%x: f32[99999999999999999999]) {}", "t.kir:1:18: expected a dimension"},
    {"graph @g(%x: f32[1048576,1048576,2]) {}", "t.kir:1:14: tensor type has more than 2^40 elements"},
    {"graph @g(%x: f32[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]) {}",
     "more than 32 dimensions"},
    // Values.
    {"graph @g(%x: f32[2]) {\n  %0 = neg(%y) : f32[2]\n  return %0 : f32[2]\n}", "t.kir:2:12: use of undefined value '%y'"},
    {"graph @g(%x: f32[2]) {\n  %x = neg(%x) : f32[2]\n  return %x : f32[2]\n}", "t.kir:2:3: redefinition of '%x'"},
    {"graph @g(%x: f32[2], %x: f32[3]) {}", "t.kir:1:22: redefinition of '%x'"},
    {"graph @g(%x: f32[2]) {\n  %0 = neg(%0) : f32[2]\n  return %0 : f32[2]\n}", "t.kir:2:12: use of undefined value '%0'"},
    {"graph @g(%x: f32[2]) {\n  return %x : f32[3]\n}", "t.kir:2:10: type mismatch: '%x' has type f32[2], declared f32[3]"},
    {"graph @g(%x: f32[2]) {\n  return %x, %x : f32[2]\n}", "t.kir:2:19: expected 2 types, got 1"},
    // Ops, operands, results.
    {"graph @g(%x: f32[2]) {\n  %0 = foo(%x) : f32[2]\n}", "t.kir:2:8: unknown op 'foo'"},
    {"graph @g(%x: f32[2]) {\n  %0 = add(%x) : f32[2]\n}", "t.kir:2:8: add expects 2 operands, got 1"},
    {"graph @g(%x: f32[2]) {\n  %0, %1 = neg(%x) : f32[2], f32[2]\n}", "t.kir:2:3: neg has 1 results, got 2 names"},
    {"graph @g(%x: f32[2]) {\n  %0 = neg(%x) : f32[2], f32[2]\n}", "t.kir:2:18: expected 1 result types, got 2"},
    {"graph @g(%x: f32[2]) {\n  %0 = input() : f32[2]\n}", "t.kir:2:8: op 'input' may only appear in the graph signature"},
    // Attributes.
    {"graph @g(%x: f32[2]) {\n  %0 = neg(%x) {alpha = 1} : f32[2]\n}", "t.kir:2:17: unknown attribute 'alpha' of neg"},
    {"graph @g(%x: f32[2]) {\n  %0 = cast(%x) {dtype = \"f64\", dtype = \"f64\"} : f64[2]\n}",
     "t.kir:2:33: duplicate attribute 'dtype'"},
    {"graph @g(%x: f32[2]) {\n  %0 = cast(%x) : f64[2]\n}", "t.kir:2:8: cast: missing required attribute 'dtype'"},
    {"graph @g(%x: f32[2,2]) {\n  %0 = reduce_sum(%x) {axes = [0.5]} : f32[2]\n}",
     "t.kir:2:31: reduce_sum attribute 'axes': expected integers in the list"},
    {"graph @g(%x: f32[2,2]) {\n  %0 = reduce_sum(%x) {keepdims = 3} : f32[2]\n}",
     "t.kir:2:35: reduce_sum attribute 'keepdims': expected true or false"},
    {"graph @g(%x: f32[2,2]) {\n  %0 = reduce_sum(%x) {axes = [0 1]} : f32[2]\n}", "t.kir:2:34: expected ',' or ']', got '1'"},
    {"graph @g(%x: f32[2,2]) {\n  %0 = reduce_sum(%x) {axes = (0)} : f32[2]\n}", "t.kir:2:31: expected an attribute value, got '('"},
    // Types checked against inference by the verifier, at the node's location.
    {"graph @g(%x: f32[2,3], %w: f32[3,4]) {\n  %0 = matmul(%x, %w) : f32[2,5]\n  return %0 : f32[2,5]\n}",
     "t.kir:2:3: matmul %0: result type f32[2,5] differs from inferred f32[2,4]"},
    {"graph @g(%x: f32[2,3], %w: f32[5,4]) {\n  %0 = matmul(%x, %w) : f32[2,4]\n  return %0 : f32[2,4]\n}",
     "t.kir:2:3: matmul %0: "},
    {"graph @g(%x: f32[2]) {\n  assign(%x, %x)\n  return\n}", "t.kir:2:3: assign: target %x is not a parameter or state"},
    // Regions.
    {"graph @g(%x: f32[2]) {\n  %0 = fused(%x) {name = \"r\"} : f32[2] {\n    ^(%arg0: f32[3])\n    yield %arg0 : f32[3]\n  }\n  return %0 : f32[2]\n}",
     "t.kir:2:3: fused %0: region arguments (f32[3]) differ from operands (f32[2])"},
    {"graph @g(%x: f32[2]) {\n  %0 = fused(%x) {name = \"r\"} : f32[2] {\n    ^(%arg0: f32[2])\n    yield %x : f32[2]\n  }\n}",
     "t.kir:4:11: use of undefined value '%x'"},
    {"graph @g(%x: f32[2]) {\n  %0 = fused(%x) {name = \"r\"} : f32[2]\n  return %0 : f32[2]\n}",
     "t.kir:3:3: expected '{' opening the region, got 'return'"},
    {"graph @g(%x: f32[2]) {\n  %0 = fused(%x) {name = \"r\"} : f32[2] {\n    ^(%arg0: f32[2])\n    yield %arg0 : f32[2]\n  }\n  return %0 : f32[2]\n}\n}",
     "t.kir:8:1: expected end of input, got '}'"},
};

INSTANTIATE_TEST_SUITE_P(Cases, ParseError, testing::ValuesIn(kCases));

TEST(ParseGuards, DeepRegionNestingIsRejected) {
  std::string text = "graph @g(%x: f32[1]) {\n";
  const int depth = 40;
  for (int i = 0; i < depth; ++i)
    text += std::string(i == 0 ? "%0 = fused(%x)" : "%0 = fused(%arg0)") + " {name = \"r\"} : f32[1] {\n^(%arg0: f32[1])\n";
  try {
    parseGraph(text, "deep.kir");
    FAIL() << "deep nesting parsed";
  } catch (const UserError &e) {
    EXPECT_NE(std::string(e.what()).find("regions nested deeper than 32"), std::string::npos) << e.what();
  }
}

TEST(ParseGuards, EveryTruncationOfAValidGraphFailsCleanly) {
  const std::string valid = "graph @g(%x: f32[2,2]) params(%w: f32[2,2]) {\n"
                            "  %0 = fused(%x, %w) {name = \"mm\"} : f32[2,2] {\n"
                            "    ^(%arg0: f32[2,2], %arg1: f32[2,2])\n"
                            "    %0 = matmul(%arg0, %arg1) {transpose_a = true} : f32[2,2]\n"
                            "    yield %0 : f32[2,2]\n"
                            "  }\n"
                            "  %s = reduce_sum(%0) {axes = [0,1]} : f32[]\n"
                            "  assign(%w, %0)\n"
                            "  return %s : f32[]\n"
                            "}\n";
  EXPECT_EQ(toText(*parseGraph(valid)), valid);
  // The last character is the final newline; every shorter prefix is incomplete.
  for (size_t n = 0; n + 1 < valid.size(); ++n)
    EXPECT_THROW(parseGraph(valid.substr(0, n)), UserError) << "prefix of length " << n;
}

TEST(ParseGuards, RandomMutationsNeverCrash) {
  const std::string valid = "graph @g(%x: f32[2,3], %y: i32[2]) {\n"
                            "  %c = constant() {value = 0.5, dtype = \"f32\", shape = []} : f32[]\n"
                            "  %0 = mul(%x, %c) : f32[2,3]\n"
                            "  %l = softmax_cross_entropy(%0, %y) : f32[]\n"
                            "  return %l : f32[]\n"
                            "}\n";
  const std::string alphabet = "%@[](){}:,=^\"\\ \n/0123456789-.eaxf32[]";
  std::mt19937 gen(1234);
  int accepted = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string s = valid;
    int edits = 1 + static_cast<int>(gen() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = gen() % s.size();
      char c = (gen() % 4 == 0) ? static_cast<char>(gen() % 256) : alphabet[gen() % alphabet.size()];
      switch (gen() % 3) {
      case 0: s[pos] = c; break;
      case 1: s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos), c); break;
      default: s.erase(pos, 1); break;
      }
    }
    try {
      std::unique_ptr<Graph> g = parseGraph(s, "fuzz.kir");
      // Whatever parses must print back to text that parses to the same text.
      std::string text = toText(*g);
      EXPECT_EQ(toText(*parseGraph(text)), text);
      ++accepted;
    } catch (const UserError &) {
      // Expected for most mutations.
    }
  }
  EXPECT_GT(accepted, 0);
}

} // namespace
} // namespace kiln
