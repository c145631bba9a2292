// tests/support/TestSupport.h - shared test helpers: seeded random tensors,
// build-and-run of one op or a graph on the interpreter, tensor comparison.
//
// Builds on OpCheck.h (randomTensor, tensorOf, inferOp, evalOp, userErrorOf,
// checkGradRule), which it includes.
#ifndef KILN_TESTS_SUPPORT_TESTSUPPORT_H
#define KILN_TESTS_SUPPORT_TESTSUPPORT_H

#include "ir/Error.h" // before OpCheck.h, which uses UserError
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/Interpreter.h"
#include "tests/support/OpCheck.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::test {

/// A tensor of `t` with integers uniform in [lo, hi], reproducible from `seed`.
HostTensor randomInts(TensorType t, uint32_t seed, int64_t lo, int64_t hi);

/// Builds op `kind` on inputs named in0, in1, ... typed like `inputs`, runs it
/// on the interpreter (in float64 when `f64`) and returns its first result.
HostTensor runOp(OpKind kind, const std::vector<HostTensor> &inputs, AttrMap attrs = {}, bool f64 = false);

/// Runs `g` on a copy of `env` (in float64 when `f64`); returns the outputs.
std::vector<HostTensor> runGraph(const Graph &g, const TensorMap &env, bool f64 = false);

/// Success when `actual` has the dtype and shape of `expected` and every
/// element is within tol * max(1, |expected|) (NaN matches NaN); the failure
/// message names the first bad element and the worst error.
::testing::AssertionResult tensorsNear(const HostTensor &actual, const HostTensor &expected, double tol);

/// tensorsNear with `expected` given as a type and row-major values.
::testing::AssertionResult tensorsNear(const HostTensor &actual, const TensorType &type,
                                       const std::vector<double> &expected, double tol);

} // namespace kiln::test

/// Expects tensorsNear(actual, expected..., tol).
#define EXPECT_TENSOR_NEAR(actual, ...) EXPECT_TRUE(::kiln::test::tensorsNear(actual, __VA_ARGS__))
/// Expects exact equality (integers, bools, copies).
#define EXPECT_TENSOR_EQ(actual, ...) EXPECT_TRUE(::kiln::test::tensorsNear(actual, __VA_ARGS__, 0.0))

#endif // KILN_TESTS_SUPPORT_TESTSUPPORT_H
