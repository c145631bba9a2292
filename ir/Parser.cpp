// ir/Parser.cpp - the IR text format reader: recursive descent over ir/Lexer.h.
//
// Builds nodes with Graph::createUnchecked and the printed result types, then
// runs verify(), which compares those types with inference and reports at the
// node's FILE:LINE:COL. Guards against hostile input: region nesting is
// bounded (no deep recursion), shapes are bounded (no huge allocations), and
// every loop consumes a token.
#include "ir/Parser.h"

#include "ir/Error.h"
#include "ir/Lexer.h"
#include "ir/ValueNames.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace kiln {

namespace {

constexpr int kMaxRegionDepth = 32;
constexpr size_t kMaxRank = 32;
constexpr int64_t kMaxElements = int64_t(1) << 40;

/// Values visible in one graph: the names as written (`x`, `3`) -> value.
using Scope = std::unordered_map<std::string, Value>;

/// The scope key of a name token: `%"0"` (a signature value called "0") must
/// not collide with the numbered `%0`, while `%"x"` and `%x` are the same.
std::string scopeKey(const Token &t) {
  return t.quoted && !isIdentifier(t.name) ? "\"" + t.name : t.name;
}

class Parser {
public:
  Parser(std::string_view text, std::string_view file) : lex_(text, file) { tok_ = lex_.next(); }

  std::unique_ptr<Graph> parseTop() {
    expectWord("graph");
    if (tok_.kind != TokenKind::GlobalRef)
      failExpected("a graph name '@name'");
    auto g = std::make_unique<Graph>(tok_.name);
    advance();
    Scope scope;
    signatureList(*g, scope, &Graph::addInput);
    if (isWord("params")) {
      advance();
      signatureList(*g, scope, &Graph::addParam);
    }
    if (isWord("state")) {
      advance();
      signatureList(*g, scope, &Graph::addState);
    }
    expect(TokenKind::LBrace, "'{'");
    g->setOutputs(body(*g, scope, "return", 0));
    expect(TokenKind::RBrace, "'}'");
    if (tok_.kind != TokenKind::Eof)
      failExpected("end of input");
    verify(*g);
    return g;
  }

private:
  // ---- Tokens ---------------------------------------------------------------
  void advance() { tok_ = lex_.next(); }
  bool isWord(std::string_view w) const { return tok_.kind == TokenKind::Word && tok_.text == w; }
  std::string here(const Token &t) const { return lex_.location(t); }

  [[noreturn]] void failAt(const Token &t, const std::string &msg) const {
    KILN_USER_ERROR() << here(t) << ": " << msg;
    __builtin_unreachable();
  }
  [[noreturn]] void failExpected(const std::string &what) const {
    failAt(tok_, "expected " + what + ", got " + tok_.describe());
  }
  void expect(TokenKind k, const char *what) {
    if (tok_.kind != k)
      failExpected(what);
    advance();
  }
  void expectWord(std::string_view w) {
    if (!isWord(w))
      failExpected("'" + std::string(w) + "'");
    advance();
  }
  bool consume(TokenKind k) {
    if (tok_.kind != k)
      return false;
    advance();
    return true;
  }

  // ---- Types ----------------------------------------------------------------
  int64_t integer(const char *what) {
    if (tok_.kind != TokenKind::Word)
      failExpected(what);
    int64_t v = 0;
    std::string_view s = tok_.text;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size())
      failExpected(what);
    advance();
    return v;
  }

  TensorType type() {
    if (tok_.kind != TokenKind::Word)
      failExpected("a type like 'f32[2,3]'");
    std::optional<DType> dt = parseDType(tok_.text);
    if (!dt)
      failAt(tok_, "unknown element type " + tok_.describe());
    TensorType t{*dt, {}};
    Token start = tok_;
    advance();
    expect(TokenKind::LBracket, "'['");
    int64_t numel = 1;
    if (!consume(TokenKind::RBracket)) {
      while (true) {
        Token dimTok = tok_;
        int64_t d = integer("a dimension");
        if (d < 0)
          failAt(dimTok, "negative dimension " + std::to_string(d));
        if (d > kMaxElements || (d > 0 && numel > kMaxElements / d))
          failAt(start, "tensor type has more than 2^40 elements");
        numel = d == 0 ? 0 : numel * d;
        t.shape.push_back(d);
        if (t.shape.size() > kMaxRank)
          failAt(dimTok, "tensor type has more than " + std::to_string(kMaxRank) + " dimensions");
        if (consume(TokenKind::RBracket))
          break;
        expect(TokenKind::Comma, "',' or ']'");
      }
    }
    return t;
  }

  std::vector<TensorType> typeList() {
    std::vector<TensorType> out{type()};
    while (consume(TokenKind::Comma))
      out.push_back(type());
    return out;
  }

  // ---- Values ---------------------------------------------------------------
  void define(Scope &scope, const Token &t, Value v) {
    if (!scope.emplace(scopeKey(t), v).second)
      failAt(t, "redefinition of " + t.describe());
  }

  Value use(const Scope &scope) {
    if (tok_.kind != TokenKind::ValueRef)
      failExpected("a value '%name'");
    auto it = scope.find(scopeKey(tok_));
    if (it == scope.end())
      failAt(tok_, "use of undefined value " + tok_.describe());
    advance();
    return it->second;
  }

  using AddFn = Value (Graph::*)(std::string, TensorType);

  /// "(%a: T, %b: T)" declaring signature values of `g`.
  void signatureList(Graph &g, Scope &scope, AddFn add) {
    expect(TokenKind::LParen, "'('");
    if (consume(TokenKind::RParen))
      return;
    while (true) {
      if (tok_.kind != TokenKind::ValueRef)
        failExpected("a value '%name'");
      Token nameTok = tok_;
      if (nameTok.name.empty())
        failAt(nameTok, "signature values need a non-empty name");
      advance();
      expect(TokenKind::Colon, "':'");
      TensorType t = type();
      if (scope.count(scopeKey(nameTok)))
        failAt(nameTok, "redefinition of " + nameTok.describe());
      Value v = (g.*add)(nameTok.name, t);
      v.node->setLocation(here(nameTok));
      define(scope, nameTok, v);
      if (consume(TokenKind::RParen))
        return;
      expect(TokenKind::Comma, "',' or ')'");
    }
  }

  /// "%a, %b : T1, T2" after return/yield (possibly empty); checks the types.
  std::vector<Value> resultList(const Scope &scope) {
    std::vector<Value> vals;
    std::vector<Token> toks;
    if (tok_.kind != TokenKind::ValueRef)
      return vals;
    while (true) {
      toks.push_back(tok_);
      vals.push_back(use(scope));
      if (!consume(TokenKind::Comma))
        break;
    }
    expect(TokenKind::Colon, "':'");
    Token typesTok = tok_;
    std::vector<TensorType> types = typeList();
    if (types.size() != vals.size())
      failAt(typesTok, "expected " + std::to_string(vals.size()) + " types, got " + std::to_string(types.size()));
    for (size_t i = 0; i < vals.size(); ++i)
      if (types[i] != vals[i].type())
        failAt(toks[i], "type mismatch: " + toks[i].describe() + " has type " + typeString(vals[i].type()) +
                            ", declared " + typeString(types[i]));
    return vals;
  }

  // ---- Body and nodes -------------------------------------------------------
  /// Statements up to and including the terminator `return`/`yield` and its values.
  std::vector<Value> body(Graph &g, Scope &scope, std::string_view terminator, int depth) {
    while (!isWord(terminator)) {
      if (tok_.kind == TokenKind::Eof || tok_.kind == TokenKind::RBrace)
        failExpected("an operation or '" + std::string(terminator) + "'");
      node(g, scope, depth);
    }
    advance();
    return resultList(scope);
  }

  /// `{name = value, ...}` after an op's operands.
  AttrMap attrs(const OpInfo &info) {
    AttrMap out;
    expect(TokenKind::LBrace, "'{'");
    if (consume(TokenKind::RBrace))
      return out;
    while (true) {
      if (tok_.kind != TokenKind::Word)
        failExpected("an attribute name");
      Token nameTok = tok_;
      std::string name(tok_.text);
      const AttrSpec *spec = info.findAttr(name);
      if (!spec)
        failAt(nameTok, "unknown attribute '" + name + "' of " + std::string(info.mnemonic));
      if (out.has(name))
        failAt(nameTok, "duplicate attribute '" + name + "'");
      advance();
      expect(TokenKind::Equal, "'='");
      Token valueTok = tok_;
      std::string text = attrValueText();
      try {
        out.set(name, parseAttrValue(text, spec->kind, std::string(info.mnemonic) + " attribute '" + name + "'"));
      } catch (const UserError &e) {
        failAt(valueTok, e.what());
      }
      if (consume(TokenKind::RBrace))
        return out;
      expect(TokenKind::Comma, "',' or '}'");
    }
  }

  /// The text of one attribute value: a word, a string or a flat [list].
  std::string attrValueText() {
    if (tok_.kind == TokenKind::Word || tok_.kind == TokenKind::String) {
      std::string s(tok_.text);
      advance();
      return s;
    }
    if (tok_.kind != TokenKind::LBracket)
      failExpected("an attribute value");
    advance();
    std::string s = "[";
    if (consume(TokenKind::RBracket))
      return s + "]";
    while (true) {
      if (tok_.kind != TokenKind::Word)
        failExpected("a number");
      s += tok_.text;
      advance();
      if (consume(TokenKind::RBracket))
        return s + "]";
      expect(TokenKind::Comma, "',' or ']'");
      s += ",";
    }
  }

  void node(Graph &g, Scope &scope, int depth) {
    Token start = tok_;
    std::vector<Token> resultToks;
    if (tok_.kind == TokenKind::ValueRef) {
      while (true) {
        if (tok_.kind != TokenKind::ValueRef)
          failExpected("a value '%name'");
        resultToks.push_back(tok_);
        advance();
        if (!consume(TokenKind::Comma))
          break;
      }
      expect(TokenKind::Equal, "'='");
    }
    if (tok_.kind != TokenKind::Word)
      failExpected("an op name");
    Token opTok = tok_;
    std::optional<OpKind> kind = opKindFromMnemonic(tok_.text);
    if (!kind)
      failAt(opTok, "unknown op " + opTok.describe());
    const OpInfo &info = opInfo(*kind);
    if (info.opClass == OpClass::Source && *kind != OpKind::Constant)
      failAt(opTok, "op '" + std::string(info.mnemonic) + "' may only appear in the graph signature");
    advance();

    std::vector<Value> operands;
    expect(TokenKind::LParen, "'('");
    if (!consume(TokenKind::RParen)) {
      while (true) {
        operands.push_back(use(scope));
        if (consume(TokenKind::RParen))
          break;
        expect(TokenKind::Comma, "',' or ')'");
      }
    }
    if (info.numOperands >= 0 && operands.size() != static_cast<size_t>(info.numOperands))
      failAt(opTok, std::string(info.mnemonic) + " expects " + std::to_string(info.numOperands) +
                        " operands, got " + std::to_string(operands.size()));
    if (info.numResults >= 0 && resultToks.size() != static_cast<size_t>(info.numResults))
      failAt(start, std::string(info.mnemonic) + " has " + std::to_string(info.numResults) + " results, got " +
                        std::to_string(resultToks.size()) + " names");

    AttrMap attributes;
    if (tok_.kind == TokenKind::LBrace && lookahead().kind != TokenKind::Caret)
      attributes = attrs(info);
    try {
      completeAttrs(info, attributes);
    } catch (const UserError &e) {
      failAt(opTok, e.what());
    }

    std::vector<TensorType> types;
    if (!resultToks.empty()) {
      expect(TokenKind::Colon, "':' and result types");
      Token typesTok = tok_;
      types = typeList();
      if (types.size() != resultToks.size())
        failAt(typesTok, "expected " + std::to_string(resultToks.size()) + " result types, got " +
                             std::to_string(types.size()));
    }

    Node *n = g.createUnchecked(*kind, std::move(operands), std::move(attributes), std::move(types), here(start));
    if (resultToks.size() == 1 && !resultToks[0].quoted && isIdentifier(resultToks[0].name))
      n->setName(resultToks[0].name);
    if (*kind == OpKind::Fused)
      region(*n, depth + 1);
    // Results become visible after the node (and its region): no self-use.
    for (size_t i = 0; i < resultToks.size(); ++i)
      define(scope, resultToks[i], n->result(i));
  }

  Token lookahead() const {
    Lexer copy = lex_;
    return copy.next();
  }

  /// `{ ^(%arg0: T, ...) body yield %v : T }` of a fused node.
  void region(Node &n, int depth) {
    if (depth > kMaxRegionDepth)
      failAt(tok_, "regions nested deeper than " + std::to_string(kMaxRegionDepth));
    expect(TokenKind::LBrace, "'{' opening the region");
    expect(TokenKind::Caret, "'^' and the region arguments");
    std::string name = n.attrs().has("name") && std::holds_alternative<std::string>(n.attrs().get("name"))
                           ? n.attrs().getString("name")
                           : std::string("region");
    auto body = std::make_unique<Graph>(name);
    Scope scope;
    signatureList(*body, scope, &Graph::addInput);
    body->setOutputs(this->body(*body, scope, "yield", depth));
    expect(TokenKind::RBrace, "'}' closing the region");
    n.setBody(std::move(body));
  }

  Lexer lex_;
  Token tok_;
};

} // namespace

std::unique_ptr<Graph> parseGraph(std::string_view text, std::string_view filename) {
  return Parser(text, filename).parseTop();
}

std::unique_ptr<Graph> parseGraphFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  KILN_RUNTIME_CHECK(in) << path << ": cannot open file";
  std::ostringstream ss;
  ss << in.rdbuf();
  KILN_RUNTIME_CHECK(!in.bad()) << path << ": read error";
  return parseGraph(ss.str(), path);
}

} // namespace kiln
