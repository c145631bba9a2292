// ir/Lexer.cpp - tokens of the IR text format.
#include "ir/Lexer.h"

#include "ir/Attr.h"
#include "ir/Error.h"

#include <cstdio>

namespace kiln {

namespace {
bool isAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool isNameChar(char c) { return isAlnum(c) || c == '_' || c == '.'; }
bool isNumberStart(char c) { return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.'; }

std::string printable(char c) {
  if (c >= 0x20 && c < 0x7f)
    return std::string(1, c);
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
  return buf;
}
} // namespace

std::string Token::describe() const {
  if (kind == TokenKind::Eof)
    return "end of input";
  std::string_view t = text;
  std::string s = "'";
  for (size_t i = 0; i < t.size() && i < 32; ++i)
    s += printable(t[i]);
  return s + (t.size() > 32 ? "...'" : "'");
}

std::string Lexer::location(const Token &t) const {
  return std::string(file_) + ":" + std::to_string(t.line) + ":" + std::to_string(t.col);
}

void Lexer::fail(int line, int col, const std::string &msg) const {
  KILN_USER_ERROR() << file_ << ":" << line << ":" << col << ": " << msg;
  __builtin_unreachable();
}

void Lexer::advance() {
  if (text_[pos_] == '\n') {
    ++line_;
    col_ = 1;
  } else {
    ++col_;
  }
  ++pos_;
}

void Lexer::skipSpaceAndComments() {
  while (pos_ < text_.size()) {
    char c = text_[pos_];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      advance();
    } else if (c == '/' && peekChar(1) == '/') {
      while (pos_ < text_.size() && text_[pos_] != '\n')
        advance();
    } else {
      return;
    }
  }
}

/// Reads a "..." string starting at the current quote; returns its raw text.
std::string Lexer::lexName(Token &t) {
  if (peekChar() != '"') {
    size_t start = pos_;
    while (pos_ < text_.size() && isNameChar(text_[pos_]))
      advance();
    if (pos_ == start) {
      std::string got = "end of input";
      if (pos_ < text_.size())
        got = std::string(1, '\'').append(printable(text_[pos_])).append(1, '\'');
      fail(line_, col_, std::string("expected a name after '").append(1, text_[start - 1]).append("', got ") + got);
    }
    return std::string(text_.substr(start, pos_ - start));
  }
  size_t start = pos_;
  int line = line_, col = col_;
  advance();
  while (true) {
    if (pos_ >= text_.size() || text_[pos_] == '\n')
      fail(line, col, "unterminated string");
    char c = text_[pos_];
    advance();
    if (c == '"')
      break;
    if (c == '\\' && pos_ < text_.size() && text_[pos_] != '\n')
      advance();
  }
  t.quoted = true;
  std::string_view raw = text_.substr(start, pos_ - start);
  try {
    return std::get<std::string>(parseAttrValue(raw, AttrKind::String, "name"));
  } catch (const UserError &e) {
    fail(line, col, e.what());
  }
}

Token Lexer::next() {
  skipSpaceAndComments();
  Token t;
  t.line = line_;
  t.col = col_;
  size_t start = pos_;
  if (pos_ >= text_.size()) {
    t.kind = TokenKind::Eof;
    return t;
  }
  char c = text_[pos_];
  auto single = [&](TokenKind k) {
    advance();
    t.kind = k;
  };
  switch (c) {
  case '(': single(TokenKind::LParen); break;
  case ')': single(TokenKind::RParen); break;
  case '{': single(TokenKind::LBrace); break;
  case '}': single(TokenKind::RBrace); break;
  case '[': single(TokenKind::LBracket); break;
  case ']': single(TokenKind::RBracket); break;
  case ',': single(TokenKind::Comma); break;
  case ':': single(TokenKind::Colon); break;
  case '=': single(TokenKind::Equal); break;
  case '^': single(TokenKind::Caret); break;
  case '%':
  case '@':
    advance();
    t.kind = c == '%' ? TokenKind::ValueRef : TokenKind::GlobalRef;
    t.name = lexName(t);
    break;
  case '"': {
    t.kind = TokenKind::String;
    lexName(t); // validates the string and its escapes
    t.quoted = false;
    break;
  }
  default: {
    if (!isNameChar(c) && c != '-' && c != '+')
      fail(line_, col_, "unexpected character '" + printable(c) + "'");
    bool number = isNumberStart(c);
    advance();
    while (pos_ < text_.size()) {
      char d = text_[pos_];
      bool exponentSign = number && (d == '-' || d == '+') && (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E');
      if (!isNameChar(d) && !exponentSign)
        break;
      advance();
    }
    t.kind = TokenKind::Word;
    break;
  }
  }
  t.text = text_.substr(start, pos_ - start);
  return t;
}

} // namespace kiln
