// ir/Error.h - the three kinds of kiln errors and the streaming check macros.
//
// UserError: the user's input is wrong (DSL misuse, IR text, shapes, flags).
// RuntimeError: the world is wrong (files, NVRTC, driver, disk).
// InternalError: kiln itself is wrong (a broken invariant).
// Messages are lower-case, without a final period, and say what, where and
// the numbers: "net.kir:12:7: conv2d: input has 3 channels, weight expects 1".
#ifndef KILN_IR_ERROR_H
#define KILN_IR_ERROR_H

#include <sstream>
#include <stdexcept>
#include <string>

namespace kiln {

/// Base of every error kiln throws; what() is the full message.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Bad user input: DSL misuse, malformed IR text, shape mismatch, bad flag.
class UserError : public Error {
public:
  using Error::Error;
};

/// A failure of the environment: file I/O, corrupt data files, tool or driver errors.
class RuntimeError : public Error {
public:
  using Error::Error;
};

/// A kiln bug: an invariant that should have held did not.
class InternalError : public Error {
public:
  using Error::Error;
};

namespace detail {
/// Collects a streamed message and throws E when destroyed. Used by the
/// KILN_*_CHECK macros only; a check that passes never constructs one.
template <typename E> class Thrower {
public:
  Thrower(const char *prefix) { os_ << prefix; }
  template <typename T> Thrower &operator<<(const T &v) {
    os_ << v;
    return *this;
  }
  [[noreturn]] ~Thrower() noexcept(false) { throw E(os_.str()); }

private:
  std::ostringstream os_;
};
/// Lets a check expand to one expression: `cond ? (void)0 : Voidify() & Thrower<E>() << ...`.
struct Voidify {
  template <typename T> void operator&(T &&) {}
};
std::string internalPrefix(const char *file, int line);
} // namespace detail

} // namespace kiln

/// Throws UserError with the streamed message when `cond` is false.
#define KILN_USER_CHECK(cond)                                                                      \
  (cond) ? (void)0 : ::kiln::detail::Voidify() & ::kiln::detail::Thrower<::kiln::UserError>("")
/// Throws RuntimeError with the streamed message when `cond` is false.
#define KILN_RUNTIME_CHECK(cond)                                                                   \
  (cond) ? (void)0 : ::kiln::detail::Voidify() & ::kiln::detail::Thrower<::kiln::RuntimeError>("")
/// Throws InternalError, naming this file and line, when `cond` is false.
#define KILN_INTERNAL_CHECK(cond)                                                                  \
  (cond) ? (void)0                                                                                 \
         : ::kiln::detail::Voidify() & ::kiln::detail::Thrower<::kiln::InternalError>(             \
                                           ::kiln::detail::internalPrefix(__FILE__, __LINE__).c_str())
/// Unconditional forms.
#define KILN_USER_ERROR() KILN_USER_CHECK(false)
#define KILN_RUNTIME_ERROR() KILN_RUNTIME_CHECK(false)
#define KILN_INTERNAL_ERROR() KILN_INTERNAL_CHECK(false)

#endif // KILN_IR_ERROR_H
