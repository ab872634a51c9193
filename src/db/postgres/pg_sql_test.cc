#include "db/postgres/pg_sql.h"

#include <gtest/gtest.h>

namespace imgpipe::db::postgres {
namespace {

TEST(RewritePlaceholdersTest, NumbersPlaceholdersInOrder) {
  RewrittenSql r = RewritePlaceholders("INSERT INTO t (a, b) VALUES (?, ?)");
  EXPECT_EQ(r.sql, "INSERT INTO t (a, b) VALUES ($1, $2)");
  EXPECT_EQ(r.placeholders, 2);
  EXPECT_EQ(RewritePlaceholders("SELECT 1").placeholders, 0);
  EXPECT_EQ(RewritePlaceholders("SELECT ?||?").sql, "SELECT $1||$2");
}

TEST(RewritePlaceholdersTest, LeavesLiteralsIdentifiersAndCommentsAlone) {
  EXPECT_EQ(RewritePlaceholders("SELECT '?', ?, 'it''s ?'").sql, "SELECT '?', $1, 'it''s ?'");
  EXPECT_EQ(RewritePlaceholders("SELECT \"odd?col\" FROM t WHERE x = ?").sql,
            "SELECT \"odd?col\" FROM t WHERE x = $1");
  EXPECT_EQ(RewritePlaceholders("SELECT ? -- why?\n, ?").sql, "SELECT $1 -- why?\n, $2");
  EXPECT_EQ(RewritePlaceholders("SELECT /* a? /* nested? */ b? */ ?").sql,
            "SELECT /* a? /* nested? */ b? */ $1");
  EXPECT_EQ(RewritePlaceholders("SELECT $$a?$$, $q$?$q$, ?").sql, "SELECT $$a?$$, $q$?$q$, $1");
  // E'' strings take backslash escapes: \' does not end the literal.
  EXPECT_EQ(RewritePlaceholders("SELECT E'\\'?', ?").sql, "SELECT E'\\'?', $1");
  // Plain strings do not (standard_conforming_strings): '\' is one backslash, closed.
  RewrittenSql like = RewritePlaceholders("SELECT x FROM t WHERE x LIKE ? ESCAPE '\\' AND y = ?");
  EXPECT_EQ(like.sql, "SELECT x FROM t WHERE x LIKE $1 ESCAPE '\\' AND y = $2");
  EXPECT_EQ(like.placeholders, 2);
  // A word ending in E before a quote is not an E'' string.
  EXPECT_EQ(RewritePlaceholders("SELECT x FROM t WHERE name='\\' AND y=?").placeholders, 1);
}

TEST(TranslateDdlTest, TranslatesPortableTypesInTableDdlOnly) {
  EXPECT_EQ(TranslateDdl("CREATE TABLE t (id INTEGER PRIMARY KEY, r real, b Blob, s TEXT)"),
            "CREATE TABLE t (id BIGINT PRIMARY KEY, r DOUBLE PRECISION, b BYTEA, s TEXT)");
  EXPECT_EQ(TranslateDdl("create temp table t (x integer)"), "create temp table t (x BIGINT)");
  EXPECT_EQ(TranslateDdl("CREATE TABLE t (x INTEGER, PRIMARY KEY (x)) without  rowid "),
            "CREATE TABLE t (x BIGINT, PRIMARY KEY (x))");
  EXPECT_EQ(TranslateDdl("CREATE TABLE t (x TEXT DEFAULT 'WITHOUT ROWID')"),
            "CREATE TABLE t (x TEXT DEFAULT 'WITHOUT ROWID')");
  EXPECT_EQ(TranslateDdl("CREATE TABLE IF NOT EXISTS t (x INTEGER NOT NULL DEFAULT 0)"),
            "CREATE TABLE IF NOT EXISTS t (x BIGINT NOT NULL DEFAULT 0)");
  EXPECT_EQ(TranslateDdl("  -- note\n ALTER TABLE t ADD COLUMN n INTEGER"),
            "  -- note\n ALTER TABLE t ADD COLUMN n BIGINT");
  // Whole words only, never inside literals or quoted identifiers.
  EXPECT_EQ(TranslateDdl("CREATE TABLE t (integer_count INTEGER DEFAULT 'INTEGER', \"BLOB\" TEXT)"),
            "CREATE TABLE t (integer_count BIGINT DEFAULT 'INTEGER', \"BLOB\" TEXT)");
  // Other statements are untouched.
  EXPECT_EQ(TranslateDdl("SELECT CAST(x AS INTEGER) FROM t"), "SELECT CAST(x AS INTEGER) FROM t");
  EXPECT_EQ(TranslateDdl("CREATE INDEX i ON t (blob)"), "CREATE INDEX i ON t (blob)");
  EXPECT_EQ(TranslateDdl("INSERT INTO t VALUES ('CREATE TABLE x (y INTEGER)')"),
            "INSERT INTO t VALUES ('CREATE TABLE x (y INTEGER)')");
}

TEST(IsCacheableTest, DmlOnly) {
  EXPECT_TRUE(IsCacheable("SELECT 1"));
  EXPECT_TRUE(IsCacheable("  insert into t values (1)"));
  EXPECT_TRUE(IsCacheable("WITH a AS (SELECT 1) SELECT * FROM a"));
  EXPECT_FALSE(IsCacheable("CREATE TABLE t (x TEXT)"));
  EXPECT_FALSE(IsCacheable("BEGIN"));
  EXPECT_FALSE(IsCacheable(""));
}

}  // namespace
}  // namespace imgpipe::db::postgres
