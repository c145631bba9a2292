// ir/HostTensor.h - a dense tensor in host memory: the interpreter's values,
// .npy and safetensors contents, and what Executables take and return.
#ifndef KILN_IR_HOSTTENSOR_H
#define KILN_IR_HOSTTENSOR_H

#include "ir/Types.h"

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>

namespace kiln {

/// Owns (or shares) a 64-byte aligned buffer of type().byteSize() bytes, zeroed on creation.
class HostTensor {
public:
  HostTensor() = default;
  explicit HostTensor(TensorType type);

  /// A tensor of `type` filled with `values` converted to its dtype.
  static HostTensor fromDoubles(TensorType type, std::span<const double> values);
  /// A scalar of dtype `t`.
  static HostTensor scalar(DType t, double v);

  const TensorType &type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  const Shape &shape() const { return type_.shape; }
  int64_t numel() const { return type_.numel(); }
  size_t byteSize() const { return type_.byteSize(); }

  std::byte *bytes() { return data_.get(); }
  const std::byte *bytes() const { return data_.get(); }
  template <typename T> T *data() { return reinterpret_cast<T *>(data_.get()); }
  template <typename T> const T *data() const { return reinterpret_cast<const T *>(data_.get()); }

  /// Element i (row-major) converted to double, whatever the dtype.
  double at(int64_t i) const;
  /// Stores v, converted to the dtype, at element i.
  void set(int64_t i, double v);

  /// A copy converted to dtype t (float->int truncates toward zero).
  HostTensor cast(DType t) const;
  /// A deep copy (this class shares its buffer on copy).
  HostTensor clone() const;
  /// Same buffer, new shape of equal element count.
  HostTensor reshaped(Shape s) const;

private:
  TensorType type_;
  std::shared_ptr<std::byte[]> data_;
};

/// Largest |a-b| / max(1, |b|) over all elements (a and b of equal shape), for tests.
double maxRelativeDifference(const HostTensor &a, const HostTensor &b);

} // namespace kiln

#endif // KILN_IR_HOSTTENSOR_H
