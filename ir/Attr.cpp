// ir/Attr.cpp - attribute maps, and the text syntax of attribute values.
//
// parseAttrValue is the single reader of attribute values: the IR parser and
// the registry's defaults (written as text in each op block) both use it.
#include "ir/Attr.h"

#include "ir/Error.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace kiln {

void AttrMap::set(std::string_view name, Attr value) {
  for (auto &e : entries_)
    if (e.first == name) {
      e.second = std::move(value);
      return;
    }
  entries_.emplace_back(std::string(name), std::move(value));
}

bool AttrMap::has(std::string_view name) const {
  for (const auto &e : entries_)
    if (e.first == name)
      return true;
  return false;
}

const Attr &AttrMap::get(std::string_view name) const {
  for (const auto &e : entries_)
    if (e.first == name)
      return e.second;
  KILN_INTERNAL_ERROR() << "attribute '" << name << "' is not set";
  return entries_.front().second;
}

namespace {
template <typename T> const T &getAs(const AttrMap &m, std::string_view name, const char *kind) {
  const Attr &a = m.get(name);
  const T *v = std::get_if<T>(&a);
  KILN_INTERNAL_CHECK(v) << "attribute '" << name << "' is not " << kind;
  return *v;
}
} // namespace

int64_t AttrMap::getInt(std::string_view name) const { return getAs<int64_t>(*this, name, "an int"); }
double AttrMap::getFloat(std::string_view name) const {
  const Attr &a = get(name);
  if (auto *i = std::get_if<int64_t>(&a))
    return static_cast<double>(*i);
  return getAs<double>(*this, name, "a float");
}
bool AttrMap::getBool(std::string_view name) const { return getAs<bool>(*this, name, "a bool"); }
const std::string &AttrMap::getString(std::string_view name) const {
  return getAs<std::string>(*this, name, "a string");
}
const std::vector<int64_t> &AttrMap::getInts(std::string_view name) const {
  return getAs<std::vector<int64_t>>(*this, name, "an int list");
}
const std::vector<double> &AttrMap::getFloats(std::string_view name) const {
  return getAs<std::vector<double>>(*this, name, "a float list");
}

// ---- Printing --------------------------------------------------------------

namespace {
std::string floatString(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s;
}

std::string quote(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}
} // namespace

std::string attrString(const Attr &a) {
  struct Visitor {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return floatString(v); }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string &v) const { return quote(v); }
    std::string operator()(const std::vector<int64_t> &v) const {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i)
        s.append(i ? "," : "").append(std::to_string(v[i]));
      return s + "]";
    }
    std::string operator()(const std::vector<double> &v) const {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i)
        s.append(i ? "," : "").append(floatString(v[i]));
      return s + "]";
    }
  };
  return std::visit(Visitor{}, a);
}

// ---- Parsing ---------------------------------------------------------------

namespace {
/// A cursor over one attribute value's text.
class ValueReader {
public:
  ValueReader(std::string_view text, std::string_view what) : s_(text), what_(what) {}

  void skipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool atEnd() {
    skipSpace();
    return i_ >= s_.size();
  }
  bool peek(char c) {
    skipSpace();
    return i_ < s_.size() && s_[i_] == c;
  }
  void expect(char c) {
    KILN_USER_CHECK(peek(c)) << what_ << ": expected '" << c << "' in attribute value '" << s_ << "'";
    ++i_;
  }

  /// A number token: returns it as int when it has no '.', 'e' or inf/nan.
  Attr number() {
    skipSpace();
    size_t start = i_;
    if (i_ < s_.size() && (s_[i_] == '-' || s_[i_] == '+'))
      ++i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
                              ((s_[i_] == '-' || s_[i_] == '+') && (s_[i_ - 1] == 'e' || s_[i_ - 1] == 'E'))))
      ++i_;
    std::string_view tok = s_.substr(start, i_ - start);
    KILN_USER_CHECK(!tok.empty()) << what_ << ": expected a number in attribute value '" << s_ << "'";
    std::string_view body = tok;
    bool neg = false;
    if (body.front() == '-' || body.front() == '+') {
      neg = body.front() == '-';
      body.remove_prefix(1);
    }
    if (body == "inf")
      return neg ? -HUGE_VAL : HUGE_VAL;
    if (body == "nan")
      return std::nan("");
    bool isInt = tok.find_first_of(".eE") == std::string_view::npos;
    if (isInt) {
      int64_t v = 0;
      const char *b = tok.data() + (tok.front() == '+' ? 1 : 0);
      auto r = std::from_chars(b, tok.data() + tok.size(), v);
      KILN_USER_CHECK(r.ec == std::errc() && r.ptr == tok.data() + tok.size())
          << what_ << ": bad integer '" << tok << "'";
      return v;
    }
    double v = 0;
    const char *b = tok.data() + (tok.front() == '+' ? 1 : 0);
    auto r = std::from_chars(b, tok.data() + tok.size(), v);
    KILN_USER_CHECK(r.ec == std::errc() && r.ptr == tok.data() + tok.size())
        << what_ << ": bad number '" << tok << "'";
    return v;
  }

  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      KILN_USER_CHECK(i_ < s_.size()) << what_ << ": unterminated string in attribute value";
      char c = s_[i_++];
      if (c == '"')
        return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      KILN_USER_CHECK(i_ < s_.size()) << what_ << ": unterminated escape in attribute value";
      char e = s_[i_++];
      if (e == 'x') {
        KILN_USER_CHECK(i_ + 2 <= s_.size() && std::isxdigit(static_cast<unsigned char>(s_[i_])) &&
                        std::isxdigit(static_cast<unsigned char>(s_[i_ + 1])))
            << what_ << ": bad \\x escape in attribute value";
        out += static_cast<char>(std::stoi(std::string(s_.substr(i_, 2)), nullptr, 16));
        i_ += 2;
      } else {
        KILN_USER_CHECK(e == '"' || e == '\\') << what_ << ": unknown escape '\\" << e << "'";
        out += e;
      }
    }
  }

  std::string word() {
    skipSpace();
    size_t start = i_;
    while (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_])))
      ++i_;
    return std::string(s_.substr(start, i_ - start));
  }

  template <typename T> std::vector<T> list() {
    expect('[');
    std::vector<T> out;
    if (peek(']')) {
      ++i_;
      return out;
    }
    while (true) {
      KILN_USER_CHECK(out.size() < (1u << 20)) << what_ << ": list too long";
      Attr n = number();
      if constexpr (std::is_same_v<T, int64_t>) {
        auto *v = std::get_if<int64_t>(&n);
        KILN_USER_CHECK(v) << what_ << ": expected integers in the list";
        out.push_back(*v);
      } else {
        out.push_back(std::holds_alternative<int64_t>(n) ? static_cast<double>(std::get<int64_t>(n))
                                                          : std::get<double>(n));
      }
      if (peek(',')) {
        ++i_;
        continue;
      }
      expect(']');
      return out;
    }
  }

private:
  std::string_view s_;
  std::string_view what_;
  size_t i_ = 0;
};
} // namespace

Attr parseAttrValue(std::string_view text, AttrKind kind, std::string_view what) {
  ValueReader r(text, what);
  Attr out;
  switch (kind) {
  case AttrKind::Int: {
    Attr n = r.number();
    KILN_USER_CHECK(std::holds_alternative<int64_t>(n)) << what << ": expected an integer, got '" << text << "'";
    out = n;
    break;
  }
  case AttrKind::Float: {
    Attr n = r.number();
    out = std::holds_alternative<int64_t>(n) ? static_cast<double>(std::get<int64_t>(n)) : std::get<double>(n);
    break;
  }
  case AttrKind::Bool: {
    std::string w = r.word();
    KILN_USER_CHECK(w == "true" || w == "false") << what << ": expected true or false, got '" << text << "'";
    out = (w == "true");
    break;
  }
  case AttrKind::String: out = r.string(); break;
  case AttrKind::Ints: out = r.list<int64_t>(); break;
  case AttrKind::Floats: out = r.list<double>(); break;
  case AttrKind::Padding:
    if (r.peek('"'))
      out = r.string();
    else
      out = r.list<int64_t>();
    break;
  }
  KILN_USER_CHECK(r.atEnd()) << what << ": unexpected text after attribute value '" << text << "'";
  return out;
}

} // namespace kiln
