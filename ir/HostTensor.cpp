// ir/HostTensor.cpp - host tensors: allocation, element access, conversion.
#include "ir/HostTensor.h"

#include "ir/Error.h"

#include <algorithm>
#include <cmath>
#include <new>

namespace kiln {

namespace {
std::shared_ptr<std::byte[]> allocate(size_t bytes) {
  size_t rounded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
  auto *p = static_cast<std::byte *>(::operator new[](rounded, std::align_val_t(64)));
  std::memset(p, 0, rounded);
  return std::shared_ptr<std::byte[]>(p, [](std::byte *q) { ::operator delete[](q, std::align_val_t(64)); });
}
} // namespace

HostTensor::HostTensor(TensorType type) : type_(std::move(type)) {
  for (int64_t d : type_.shape)
    KILN_USER_CHECK(d >= 0) << "tensor of negative extent " << shapeString(type_.shape);
  data_ = allocate(type_.byteSize());
}

HostTensor HostTensor::fromDoubles(TensorType type, std::span<const double> values) {
  HostTensor t(std::move(type));
  KILN_USER_CHECK(static_cast<int64_t>(values.size()) == t.numel())
      << "tensor " << typeString(t.type()) << " needs " << t.numel() << " values, got " << values.size();
  for (size_t i = 0; i < values.size(); ++i)
    t.set(static_cast<int64_t>(i), values[i]);
  return t;
}

HostTensor HostTensor::scalar(DType t, double v) {
  HostTensor h(TensorType{t, {}});
  h.set(0, v);
  return h;
}

double HostTensor::at(int64_t i) const {
  switch (type_.dtype) {
  case DType::F32: return data<float>()[i];
  case DType::F64: return data<double>()[i];
  case DType::I32: return data<int32_t>()[i];
  case DType::I64: return static_cast<double>(data<int64_t>()[i]);
  case DType::U8: return data<uint8_t>()[i];
  case DType::Bool: return data<uint8_t>()[i] != 0;
  }
  return 0;
}

void HostTensor::set(int64_t i, double v) {
  switch (type_.dtype) {
  case DType::F32: data<float>()[i] = static_cast<float>(v); break;
  case DType::F64: data<double>()[i] = v; break;
  case DType::I32: data<int32_t>()[i] = static_cast<int32_t>(v); break;
  case DType::I64: data<int64_t>()[i] = static_cast<int64_t>(v); break;
  case DType::U8: data<uint8_t>()[i] = static_cast<uint8_t>(static_cast<int64_t>(v)); break;
  case DType::Bool: data<uint8_t>()[i] = v != 0.0; break;
  }
}

HostTensor HostTensor::cast(DType t) const {
  HostTensor out(TensorType{t, type_.shape});
  if (t == DType::I64 && type_.dtype == DType::I64) {
    std::memcpy(out.bytes(), bytes(), byteSize());
    return out;
  }
  for (int64_t i = 0; i < numel(); ++i)
    out.set(i, at(i));
  return out;
}

HostTensor HostTensor::clone() const {
  HostTensor out(type_);
  if (byteSize())
    std::memcpy(out.bytes(), bytes(), byteSize());
  return out;
}

HostTensor HostTensor::reshaped(Shape s) const {
  KILN_USER_CHECK(numElements(s) == numel())
      << "reshape of " << typeString(type_) << " to " << shapeString(s) << " changes the element count";
  HostTensor out = *this;
  out.type_.shape = std::move(s);
  return out;
}

double maxRelativeDifference(const HostTensor &a, const HostTensor &b) {
  KILN_USER_CHECK(a.shape() == b.shape())
      << "comparing tensors of shapes " << shapeString(a.shape()) << " and " << shapeString(b.shape());
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.at(i), y = b.at(i);
    if (std::isnan(x) != std::isnan(y))
      return INFINITY;
    if (std::isnan(x) || x == y)
      continue;
    worst = std::max(worst, std::fabs(x - y) / std::max(1.0, std::fabs(y)));
  }
  return worst;
}

} // namespace kiln
