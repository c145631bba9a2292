// ir/Types.h - element types (DType), shapes and tensor types of kiln values.
//
// Every kiln value is a dense tensor with a static shape. This header is the
// vocabulary every other folder speaks; it must not depend on anything else.
#ifndef KILN_IR_TYPES_H
#define KILN_IR_TYPES_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// Element type of a tensor.
enum class DType : uint8_t { F32, F64, I32, I64, U8, Bool };

/// Short name used by the text format and .npy descriptors: "f32", "i64", "bool", ...
std::string_view dtypeName(DType t);
/// Inverse of dtypeName; nullopt for an unknown name.
std::optional<DType> parseDType(std::string_view name);
/// Size of one element in bytes (bool takes one byte).
size_t dtypeSize(DType t);
/// True for f32 and f64.
bool isFloat(DType t);
/// True for i32, i64 and u8.
bool isInteger(DType t);

/// A static shape: one extent per dimension, row-major (C order). Rank 0 is a scalar.
using Shape = std::vector<int64_t>;

/// Number of elements of a shape (1 for a scalar).
int64_t numElements(const Shape &s);
/// "[128,1,28,28]" (no spaces), "[]" for a scalar.
std::string shapeString(const Shape &s);
/// Row-major strides of a shape, in elements.
std::vector<int64_t> rowMajorStrides(const Shape &s);

/// The type of a value: element type and shape.
struct TensorType {
  DType dtype = DType::F32;
  Shape shape;

  int64_t numel() const { return numElements(shape); }
  size_t rank() const { return shape.size(); }
  size_t byteSize() const { return static_cast<size_t>(numel()) * dtypeSize(dtype); }
  bool operator==(const TensorType &o) const = default;
};

/// "f32[128,10]", the type syntax of the text format.
std::string typeString(const TensorType &t);

} // namespace kiln

#endif // KILN_IR_TYPES_H
