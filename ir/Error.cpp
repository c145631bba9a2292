// ir/Error.cpp - helpers of the error macros.
#include "ir/Error.h"

#include <cstring>

namespace kiln::detail {

std::string internalPrefix(const char *file, int line) {
  const char *base = std::strrchr(file, '/');
  return std::string("internal error at ") + (base ? base + 1 : file) + ":" + std::to_string(line) + ": ";
}

} // namespace kiln::detail
