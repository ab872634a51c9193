#include "db/postgres/pg_sql.h"

#include <cctype>
#include <functional>
#include <vector>

namespace imgpipe::db::postgres {
namespace {

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Length of the token that starts at sql[i] when it is a literal, quoted identifier or comment;
// 0 when sql[i] starts ordinary SQL text.
size_t SkipNonCode(std::string_view sql, size_t i) {
  const size_t n = sql.size();
  const char c = sql[i];
  const bool word_before = i > 0 && IsWordChar(sql[i - 1]);
  if (c == '\'' || c == '"') {
    // E'...' strings take backslash escapes; plain ones double the quote to escape it.
    const bool backslashes = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                             !(i > 1 && IsWordChar(sql[i - 2]));
    size_t j = i + 1;
    while (j < n) {
      if (backslashes && sql[j] == '\\') {
        j += 2;
      } else if (sql[j] == c) {
        if (j + 1 < n && sql[j + 1] == c) {
          j += 2;
        } else {
          return j + 1 - i;
        }
      } else {
        ++j;
      }
    }
    return n - i;  // unterminated: the server will complain
  }
  if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
    size_t end = sql.find('\n', i);
    return (end == std::string_view::npos ? n : end + 1) - i;
  }
  if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
    int depth = 0;
    size_t j = i;
    while (j < n) {
      if (sql.compare(j, 2, "/*") == 0) {
        ++depth;
        j += 2;
      } else if (sql.compare(j, 2, "*/") == 0) {
        j += 2;
        if (--depth == 0) return j - i;
      } else {
        ++j;
      }
    }
    return n - i;
  }
  if (c == '$' && !word_before) {
    // $tag$ ... $tag$ (tag may be empty); "$1" is a parameter, not a quote.
    if (i + 1 < n && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) return 0;
    size_t j = i + 1;
    while (j < n && IsWordChar(sql[j])) ++j;
    if (j < n && sql[j] == '$') {
      std::string_view tag = sql.substr(i, j + 1 - i);
      size_t end = sql.find(tag, j + 1);
      return (end == std::string_view::npos ? n : end + tag.size()) - i;
    }
  }
  return 0;
}

// Calls `code(i)` for every character outside literals and comments, and copies the rest.
void Scan(std::string_view sql, const std::function<void(size_t)>& code,
          const std::function<void(std::string_view)>& other) {
  size_t i = 0;
  while (i < sql.size()) {
    size_t skip = SkipNonCode(sql, i);
    if (skip > 0) {
      other(sql.substr(i, skip));
      i += skip;
    } else {
      code(i++);
    }
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

// The first `max` words of the statement, upper-cased, skipping comments.
std::vector<std::string> LeadingWords(std::string_view sql, size_t max) {
  std::vector<std::string> words;
  std::string current;
  bool stop = false;
  size_t i = 0;
  while (i < sql.size() && !stop && words.size() < max) {
    size_t skip = SkipNonCode(sql, i);
    char c = sql[i];
    if (skip > 0 || !IsWordChar(c)) {
      if (!current.empty()) words.push_back(std::move(current)), current.clear();
      // Only whitespace and comments may separate the leading words.
      if (skip == 0 && !std::isspace(static_cast<unsigned char>(c))) stop = true;
      if (skip > 0 && c != '-' && c != '/') stop = true;
      i += skip > 0 ? skip : 1;
    } else {
      current.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      ++i;
    }
  }
  if (!current.empty() && words.size() < max) words.push_back(std::move(current));
  return words;
}

}  // namespace

RewrittenSql RewritePlaceholders(std::string_view sql) {
  RewrittenSql out;
  out.sql.reserve(sql.size() + 8);
  Scan(
      sql,
      [&](size_t i) {
        if (sql[i] == '?') {
          out.sql += '$';
          out.sql += std::to_string(++out.placeholders);
        } else {
          out.sql += sql[i];
        }
      },
      [&](std::string_view text) { out.sql += text; });
  return out;
}

std::string TranslateDdl(std::string_view sql) {
  std::vector<std::string> lead = LeadingWords(sql, 3);
  auto is = [&](size_t i, std::string_view w) { return i < lead.size() && lead[i] == w; };
  const bool create_table =
      is(0, "CREATE") &&
      (is(1, "TABLE") ||
       ((is(1, "TEMP") || is(1, "TEMPORARY") || is(1, "UNLOGGED")) && is(2, "TABLE")));
  if (!create_table && !(is(0, "ALTER") && is(1, "TABLE"))) return std::string(sql);

  std::string out;
  std::string word;
  auto flush = [&] {
    if (EqualsIgnoreCase(word, "INTEGER")) {
      out += "BIGINT";
    } else if (EqualsIgnoreCase(word, "REAL")) {
      out += "DOUBLE PRECISION";
    } else if (EqualsIgnoreCase(word, "BLOB")) {
      out += "BYTEA";
    } else {
      out += word;
    }
    word.clear();
  };
  Scan(
      sql,
      [&](size_t i) {
        // '$' continues an identifier (x$1); a word right after a literal is not split from it.
        if (IsWordChar(sql[i]) || (sql[i] == '$' && !word.empty())) {
          word += sql[i];
        } else {
          flush();
          out += sql[i];
        }
      },
      [&](std::string_view text) {
        flush();
        out += text;
      });
  flush();
  // SQLite's clustered-table option: PostgreSQL tables are heaps, so it has no counterpart.
  size_t close = out.rfind(')');
  if (create_table && close != std::string::npos) {
    std::string tail;
    for (char c : std::string_view(out).substr(close + 1)) {
      if (!std::isspace(static_cast<unsigned char>(c))) {
        tail += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
    }
    if (tail == "WITHOUTROWID") out.resize(close + 1);
  }
  return out;
}

bool IsCacheable(std::string_view sql) {
  std::vector<std::string> lead = LeadingWords(sql, 1);
  if (lead.empty()) return false;
  const std::string& w = lead[0];
  return w == "SELECT" || w == "INSERT" || w == "UPDATE" || w == "DELETE" || w == "WITH";
}

}  // namespace imgpipe::db::postgres
