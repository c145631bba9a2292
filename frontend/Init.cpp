// frontend/Init.cpp - parameter initializers: fans, splitmix64 stream, distributions.
#include "frontend/Init.h"

#include "ir/Error.h"

#include <cmath>
#include <numbers>

namespace kiln {

std::string Initializer::name() const {
  switch (kind) {
  case InitKind::Zeros: return "zeros";
  case InitKind::Ones: return "ones";
  case InitKind::Constant: return "constant";
  case InitKind::GlorotUniform: return "glorot_uniform";
  case InitKind::HeNormal: return "he_normal";
  }
  return "?";
}

Fans computeFans(const Shape &s) {
  if (s.empty())
    return {1, 1};
  if (s.size() == 1)
    return {s[0], s[0]};
  if (s.size() == 2)
    return {s[0], s[1]};
  // OIHW filters: the receptive field is the product of the trailing dims.
  int64_t receptive = 1;
  for (size_t i = 2; i < s.size(); ++i)
    receptive *= s[i];
  return {s[1] * receptive, s[0] * receptive};
}

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double SplitMix64::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double SplitMix64::normal() {
  // Box-Muller with 1-u in (0,1] so the logarithm is finite.
  double u1 = 1.0 - uniform();
  double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

uint64_t paramSeed(uint64_t modelSeed, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a
  for (char c : name)
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  SplitMix64 mix(modelSeed * 0x9e3779b97f4a7c15ULL ^ h);
  return mix.next();
}

HostTensor glorotUniform(const Shape &s, uint64_t seed) {
  return initialize(Initializer::glorotUniform(), TensorType{DType::F32, s}, seed);
}

HostTensor heNormal(const Shape &s, uint64_t seed) {
  return initialize(Initializer::heNormal(), TensorType{DType::F32, s}, seed);
}

HostTensor initialize(const Initializer &init, const TensorType &type, uint64_t seed) {
  KILN_USER_CHECK(isFloat(type.dtype)) << "initializer " << init.name() << ": parameter type "
                                       << typeString(type) << " is not a float type";
  HostTensor t(type);
  int64_t n = t.numel();
  Fans fans = computeFans(type.shape);
  SplitMix64 rng(seed);
  switch (init.kind) {
  case InitKind::Zeros:
    break;
  case InitKind::Ones:
  case InitKind::Constant:
    for (int64_t i = 0; i < n; ++i)
      t.set(i, init.kind == InitKind::Ones ? 1.0 : init.value);
    break;
  case InitKind::GlorotUniform: {
    double limit = std::sqrt(6.0 / static_cast<double>(fans.in + fans.out));
    for (int64_t i = 0; i < n; ++i)
      t.set(i, (2.0 * rng.uniform() - 1.0) * limit);
    break;
  }
  case InitKind::HeNormal: {
    // Keras divides by the standard deviation of a unit normal truncated at
    // +-2, so the truncated samples keep variance 2 / fan_in.
    double stddev = std::sqrt(2.0 / static_cast<double>(fans.in)) / 0.87962566103423978;
    for (int64_t i = 0; i < n; ++i) {
      double z = rng.normal();
      while (std::abs(z) > 2.0)
        z = rng.normal();
      t.set(i, z * stddev);
    }
    break;
  }
  }
  return t;
}

} // namespace kiln
