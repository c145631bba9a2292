// ir/Lexer.h - tokens of the IR text format (internal to the parser).
//
// Words cover identifiers, keywords and numbers alike (`conv2d`, `f32`, `128`,
// `-1.5e-07`, `inf`); the parser decides what a word means where it stands.
// `%name` / `@name` carry their (unquoted) name. `//` comments run to the end
// of the line. Every token consumes at least one character, so lexing always
// terminates; malformed text throws UserError "FILE:LINE:COL: ...".
#ifndef KILN_IR_LEXER_H
#define KILN_IR_LEXER_H

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

enum class TokenKind : uint8_t {
  Eof,
  Word,     ///< identifier, keyword or number
  ValueRef, ///< %name or %"quoted name"
  GlobalRef,///< @name or @"quoted name"
  String,   ///< "text" (raw, quotes and escapes included)
  LParen,
  RParen,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Equal,
  Caret,
};

/// One token: its kind, raw text, position and, for names, the unquoted name.
struct Token {
  TokenKind kind = TokenKind::Eof;
  std::string_view text;
  std::string name;   ///< ValueRef / GlobalRef only
  bool quoted = false;///< the name was written in quotes
  int line = 1;
  int col = 1;

  /// For messages: "'conv2d'", "'%x'", "end of input".
  std::string describe() const;
};

/// Splits text into tokens on demand; cheap to copy (for lookahead).
class Lexer {
public:
  Lexer(std::string_view text, std::string_view filename) : text_(text), file_(filename) {}

  /// The next token; throws UserError on malformed text.
  Token next();
  /// "FILE:LINE:COL" of a token.
  std::string location(const Token &t) const;

private:
  [[noreturn]] void fail(int line, int col, const std::string &msg) const;
  void skipSpaceAndComments();
  char peekChar(size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }
  void advance();
  std::string lexName(Token &t);

  std::string_view text_;
  std::string_view file_;
  size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
};

} // namespace kiln

#endif // KILN_IR_LEXER_H
