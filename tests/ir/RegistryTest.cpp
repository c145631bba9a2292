// tests/ir/RegistryTest.cpp - every row of ir/ops.def has the hooks its class needs.
//
// ops.def guarantees each op has a hooks object (a missing one fails to link);
// this test guarantees the object is complete, so an op added with a missing
// hook fails here instead of deep inside a pass or a backend.
#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/OpInfo.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>

namespace kiln {
namespace {

bool isSnakeCase(std::string_view s) {
  if (s.empty() || !std::islower(static_cast<unsigned char>(s[0])))
    return false;
  for (char c : s)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  return true;
}

TEST(Registry, EveryOpHasTheHooksOfItsClass) {
  std::set<std::string_view> mnemonics;
  for (const OpInfo &op : allOps()) {
    SCOPED_TRACE(std::string(op.mnemonic));
    EXPECT_TRUE(isSnakeCase(op.mnemonic));
    EXPECT_TRUE(mnemonics.insert(op.mnemonic).second) << "duplicate mnemonic";
    EXPECT_FALSE(op.hooks.summary.empty()) << "no summary line for `kiln ops`";
    EXPECT_EQ(opKindFromMnemonic(op.mnemonic), op.kind);
    bool signature = op.kind == OpKind::Input || op.kind == OpKind::Parameter || op.kind == OpKind::State;
    bool region = op.opClass == OpClass::Region;
    if (!signature && !region) {
      EXPECT_NE(op.hooks.infer, nullptr) << "no shape/dtype inference";
    }
    if (op.opClass == OpClass::Elementwise) {
      EXPECT_NE(op.hooks.formula, nullptr) << "elementwise ops are scalar formulas";
      EXPECT_EQ(op.hooks.eval, nullptr) << "elementwise ops evaluate through their formula only";
    } else if (!signature && !region && op.opClass != OpClass::Effect) {
      EXPECT_NE(op.hooks.eval, nullptr) << "no reference implementation";
    }
    if (op.has(kSideEffect)) {
      EXPECT_EQ(op.opClass, OpClass::Effect);
    }
  }
}

TEST(Registry, EveryAttributeDefaultParsesAndCompletes) {
  for (const OpInfo &op : allOps()) {
    SCOPED_TRACE(std::string(op.mnemonic));
    AttrMap attrs;
    bool required = false;
    for (const AttrSpec &spec : op.hooks.attrs)
      required |= spec.defaultText.empty();
    if (required) {
      EXPECT_THROW(completeAttrs(op, attrs), UserError);
      continue;
    }
    ASSERT_NO_THROW(completeAttrs(op, attrs));
    EXPECT_EQ(attrs.entries().size(), op.hooks.attrs.size());
    for (size_t i = 0; i < op.hooks.attrs.size(); ++i)
      EXPECT_EQ(attrs.entries()[i].first, op.hooks.attrs[i].name) << "attributes keep declaration order";
  }
}

TEST(Registry, UnknownAttributeAndWrongKindAreNamed) {
  const OpInfo &conv = opInfo(OpKind::Conv2d);
  AttrMap bad;
  bad.set("strides", std::vector<int64_t>{1, 1});
  try {
    completeAttrs(conv, bad);
    FAIL() << "an unknown attribute must be rejected";
  } catch (const UserError &e) {
    EXPECT_STREQ(e.what(), "conv2d: unknown attribute 'strides'");
  }
  AttrMap wrong;
  wrong.set("stride", std::string("two"));
  try {
    completeAttrs(conv, wrong);
    FAIL() << "a string stride must be rejected";
  } catch (const UserError &e) {
    EXPECT_STREQ(e.what(), "conv2d: attribute 'stride' must be a list of integers, got \"two\"");
  }
}

} // namespace
} // namespace kiln
