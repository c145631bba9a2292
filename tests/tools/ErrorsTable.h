// tests/tools/ErrorsTable.h - reads docs/errors.md and checks observed errors against its rows.
//
// Used by tests/tools/ErrorsTest.cpp: documentedRows() parses the table rows
// `| `id` | input | how | message | exit |`, expectRow() compares an observed
// message (`<word>` in the documented one matches any text) and exit status
// with a row, runKiln()/expectCli() run the built `kiln` binary in a folder.
#ifndef KILN_TESTS_TOOLS_ERRORSTABLE_H
#define KILN_TESTS_TOOLS_ERRORSTABLE_H

#include "tests/support/TempDir.h"

#include "ir/Error.h"
#include "ir/HostTensor.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace kiln::test {

/// One row of the table in docs/errors.md.
struct Row {
  std::string message; ///< documented message, `<...>` = any text
  std::string exit;    ///< "0", "1", "2", or an error kind for in-process rows
};

/// Strips a Markdown code span: `x` or `` x ``.
inline std::string unquote(std::string s) {
  auto trim = [](std::string &t) {
    while (!t.empty() && t.front() == ' ')
      t.erase(t.begin());
    while (!t.empty() && t.back() == ' ')
      t.pop_back();
  };
  trim(s);
  size_t ticks = 0;
  while (ticks < s.size() && s[ticks] == '`')
    ++ticks;
  if (ticks && s.size() >= 2 * ticks && s.compare(s.size() - ticks, ticks, std::string(ticks, '`')) == 0)
    s = s.substr(ticks, s.size() - 2 * ticks);
  trim(s);
  for (size_t at; (at = s.find("\\|")) != std::string::npos;) // GFM escapes '|' in table cells
    s.erase(at, 1);
  return s;
}

/// The rows of docs/errors.md by id: lines `| `id` | input | how | message | exit |`.
inline const std::map<std::string, Row> &documentedRows() {
  static const std::map<std::string, Row> rows = [] {
    std::map<std::string, Row> out;
    std::ifstream in(std::string(KILN_SOURCE_DIR) + "/docs/errors.md");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("| `", 0) != 0)
        continue;
      std::vector<std::string> cells;
      std::string cell;
      bool code = false;
      for (size_t i = 1; i < line.size(); ++i) {
        char c = line[i];
        if (c == '`')
          code = !code;
        if (c == '|' && !code) {
          cells.push_back(cell);
          cell.clear();
        } else {
          cell += c;
        }
      }
      if (cells.size() == 5)
        out[unquote(cells[0])] = Row{unquote(cells[3]), unquote(cells[4])};
    }
    return out;
  }();
  return rows;
}

/// Whether `actual` matches `pattern`, where each `<word>` in the pattern matches any text.
inline bool matchesPattern(const std::string &actual, const std::string &pattern) {
  std::vector<std::string> parts{""}; // the literal pieces between placeholders
  for (size_t i = 0; i < pattern.size(); ++i) {
    size_t close = pattern[i] == '<' ? pattern.find('>', i) : std::string::npos;
    if (close != std::string::npos && close > i + 1 && pattern.find_first_of(" <", i + 1) > close) {
      parts.emplace_back();
      i = close;
      continue;
    }
    parts.back() += pattern[i];
  }
  if (parts.size() == 1)
    return actual == parts[0];
  const std::string &first = parts.front(), &last = parts.back();
  if (actual.size() < first.size() + last.size() || actual.compare(0, first.size(), first) != 0 ||
      actual.compare(actual.size() - last.size(), last.size(), last) != 0)
    return false;
  size_t pos = first.size(), end = actual.size() - last.size();
  for (size_t k = 1; k + 1 < parts.size(); ++k) {
    size_t at = actual.find(parts[k], pos);
    if (at == std::string::npos || at + parts[k].size() > end)
      return false;
    pos = at + parts[k].size();
  }
  return pos <= end;
}

/// Checks an observed message and exit status against row `id` of docs/errors.md.
inline void expectRow(const std::string &id, const std::string &message, const std::string &exit) {
  auto it = documentedRows().find(id);
  ASSERT_NE(it, documentedRows().end()) << "docs/errors.md has no row `" << id << "`";
  EXPECT_TRUE(matchesPattern(message, it->second.message))
      << "row " << id << ":\n  documented: " << it->second.message << "\n  actual:     " << message;
  EXPECT_EQ(exit, it->second.exit) << "row " << id;
}

/// The outcome of one `kiln` run.
struct CliRun {
  int status = -1;
  std::string out, err;
  /// The first stderr line starting with "error: " (empty when none).
  std::string errorLine() const {
    std::istringstream in(err);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("error: ", 0) == 0)
        return line;
    return "";
  }
};

/// Runs `kiln ARGS` in `dir` through bash; `prefix` is shell code run first
/// (limits, environment).
inline CliRun runKiln(const TempDir &dir, const std::string &args, const std::string &prefix = "") {
  std::string script =
      "cd '" + dir.path().string() + "' && " + prefix + " exec '" KILN_BINARY "' " + args + " >stdout.txt 2>stderr.txt";
  std::string quoted = "'";
  for (char c : script)
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  std::string cmd = "bash -c " + quoted + "'";
  int raw = std::system(cmd.c_str());
  CliRun r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  r.out = TempDir::read(dir.file("stdout.txt"));
  r.err = TempDir::read(dir.file("stderr.txt"));
  return r;
}

/// Runs kiln and checks the outcome against row `id`.
inline CliRun expectCli(const std::string &id, const TempDir &dir, const std::string &args,
                        const std::string &prefix = "") {
  CliRun r = runKiln(dir, args, prefix);
  expectRow(id, r.errorLine(), std::to_string(r.status));
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  return r;
}

/// The message of the kiln::Error `f` throws, and its kind ("UserError", ...).
template <typename F> std::pair<std::string, std::string> errorOf(F &&f) {
  try {
    f();
  } catch (const UserError &e) {
    return {e.what(), "UserError"};
  } catch (const RuntimeError &e) {
    return {e.what(), "RuntimeError"};
  } catch (const InternalError &e) {
    return {e.what(), "InternalError"};
  }
  return {"", "no error"};
}

/// An f32 vector holding `values`.
inline HostTensor f32Vector(std::vector<double> values) {
  return HostTensor::fromDoubles(TensorType{DType::F32, {static_cast<int64_t>(values.size())}}, values);
}

} // namespace kiln::test

#endif // KILN_TESTS_TOOLS_ERRORSTABLE_H
