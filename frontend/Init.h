// frontend/Init.h - parameter initializers: zeros, Glorot-uniform, He-normal, seeded.
//
// Every initializer is a pure function of (shape, seed): the same seed gives the
// same tensor on every machine (our own splitmix64 stream, no <random>
// distributions, whose output differs between standard libraries). Fans follow
// Keras: a rank-2 [in,out] matrix has fan_in = in, fan_out = out; an OIHW
// filter has fan_in = I*KH*KW, fan_out = O*KH*KW.
#ifndef KILN_FRONTEND_INIT_H
#define KILN_FRONTEND_INIT_H

#include "ir/HostTensor.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

/// How a parameter gets its first value.
enum class InitKind : uint8_t {
  Zeros,         ///< all 0
  Ones,          ///< all 1
  Constant,      ///< all `value`
  GlorotUniform, ///< U(-l, l), l = sqrt(6 / (fan_in + fan_out))
  HeNormal,      ///< normal(0, sqrt(2 / fan_in)) truncated at two standard deviations
};

/// An initializer: a kind and, for Constant, its value.
struct Initializer {
  InitKind kind = InitKind::Zeros;
  double value = 0.0;

  static Initializer zeros() { return {InitKind::Zeros, 0.0}; }
  static Initializer ones() { return {InitKind::Ones, 1.0}; }
  static Initializer constant(double v) { return {InitKind::Constant, v}; }
  static Initializer glorotUniform() { return {InitKind::GlorotUniform, 0.0}; }
  static Initializer heNormal() { return {InitKind::HeNormal, 0.0}; }
  /// Keras-style name: "zeros", "glorot_uniform", "he_normal", ...
  std::string name() const;
};

/// Fan-in and fan-out of a weight of shape `s`, by the Keras rules above.
struct Fans {
  int64_t in = 1;
  int64_t out = 1;
};
Fans computeFans(const Shape &s);

/// A tensor of `type` (float dtype) initialized by `init` from `seed`.
HostTensor initialize(const Initializer &init, const TensorType &type, uint64_t seed);

/// Glorot-uniform f32 tensor of shape `s`.
HostTensor glorotUniform(const Shape &s, uint64_t seed);
/// He-normal (truncated) f32 tensor of shape `s`.
HostTensor heNormal(const Shape &s, uint64_t seed);

/// The seed of parameter `name` in a model seeded with `modelSeed`: independent
/// of the order in which parameters are declared.
uint64_t paramSeed(uint64_t modelSeed, std::string_view name);

/// A deterministic stream of uniform and normal numbers (splitmix64).
class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  /// Uniform in [0, 1) with 53 random bits.
  double uniform();
  /// Standard normal (Box-Muller).
  double normal();

private:
  uint64_t state_;
};

} // namespace kiln

#endif // KILN_FRONTEND_INIT_H
