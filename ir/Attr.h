// ir/Attr.h - op attributes: values, their kinds and the per-op attribute specs.
//
// An op declares its attributes once (name, kind, default written in the
// text format's syntax); nodes store every declared attribute, defaults filled
// in, in declaration order, so printing order is fixed.
#ifndef KILN_IR_ATTR_H
#define KILN_IR_ATTR_H

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace kiln {

/// One attribute value. Strings carry enum-like choices ("valid", "lt", "f32").
using Attr = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>, std::vector<double>>;

/// What values an attribute accepts.
enum class AttrKind : uint8_t {
  Int,     ///< int64_t
  Float,   ///< double (an integer literal is accepted and converted)
  Bool,    ///< true / false
  String,  ///< "text"
  Ints,    ///< [1,2,3]
  Floats,  ///< [0.5,1.0]
  Padding, ///< "valid", "same" or [top,left,bottom,right]
};

/// Declaration of one attribute of an op.
struct AttrSpec {
  std::string_view name;
  AttrKind kind;
  /// Default in text-format syntax (`[1,1]`, `"valid"`, `0.5`, `false`);
  /// empty means the attribute is required.
  std::string_view defaultText;
  /// Print the attribute even when it equals its default (e.g. conv2d's stride),
  /// so dumps show what matters; otherwise defaults are omitted.
  bool printDefault = false;
};

/// Attributes of a node: every declared attribute, in declaration order.
class AttrMap {
public:
  using Entry = std::pair<std::string, Attr>;

  /// Sets (or replaces) an attribute.
  void set(std::string_view name, Attr value);
  /// True if the attribute is present.
  bool has(std::string_view name) const;
  /// The attribute's value; InternalError if absent.
  const Attr &get(std::string_view name) const;

  int64_t getInt(std::string_view name) const;
  double getFloat(std::string_view name) const;
  bool getBool(std::string_view name) const;
  const std::string &getString(std::string_view name) const;
  const std::vector<int64_t> &getInts(std::string_view name) const;
  const std::vector<double> &getFloats(std::string_view name) const;

  const std::vector<Entry> &entries() const { return entries_; }
  bool operator==(const AttrMap &o) const = default;

private:
  std::vector<Entry> entries_;
};

/// Text-format rendering of a value: `[1,1]`, `"valid"`, `0.5`, `true`.
/// Floats print with the shortest representation that round-trips exactly.
std::string attrString(const Attr &a);

/// Parses the text-format syntax of one value of `kind`; throws UserError with
/// `what` in the message on malformed text.
Attr parseAttrValue(std::string_view text, AttrKind kind, std::string_view what);

} // namespace kiln

#endif // KILN_IR_ATTR_H
