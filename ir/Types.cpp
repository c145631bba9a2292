// ir/Types.cpp - dtype names and sizes, shape helpers.
#include "ir/Types.h"

#include "ir/Error.h"

namespace kiln {

std::string_view dtypeName(DType t) {
  switch (t) {
  case DType::F32: return "f32";
  case DType::F64: return "f64";
  case DType::I32: return "i32";
  case DType::I64: return "i64";
  case DType::U8: return "u8";
  case DType::Bool: return "bool";
  }
  KILN_INTERNAL_ERROR() << "bad dtype " << static_cast<int>(t);
  return {};
}

std::optional<DType> parseDType(std::string_view name) {
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8, DType::Bool})
    if (dtypeName(t) == name)
      return t;
  return std::nullopt;
}

size_t dtypeSize(DType t) {
  switch (t) {
  case DType::F64:
  case DType::I64: return 8;
  case DType::F32:
  case DType::I32: return 4;
  case DType::U8:
  case DType::Bool: return 1;
  }
  return 0;
}

bool isFloat(DType t) { return t == DType::F32 || t == DType::F64; }
bool isInteger(DType t) { return t == DType::I32 || t == DType::I64 || t == DType::U8; }

int64_t numElements(const Shape &s) {
  // A zero extent anywhere makes the product 0, however large the others
  // (an .npy header may say (huge, huge, 0)); otherwise no overflow.
  for (int64_t d : s)
    if (d == 0)
      return 0;
  int64_t n = 1;
  for (int64_t d : s)
    KILN_USER_CHECK(!__builtin_mul_overflow(n, d, &n)) << "shape " << shapeString(s) << " has too many elements";
  return n;
}

std::string shapeString(const Shape &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i)
      out += ',';
    out += std::to_string(s[i]);
  }
  return out + "]";
}

std::vector<int64_t> rowMajorStrides(const Shape &s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;)
    st[i - 1] = st[i] * s[i];
  return st;
}

std::string typeString(const TensorType &t) {
  return std::string(dtypeName(t.dtype)) + shapeString(t.shape);
}

} // namespace kiln
