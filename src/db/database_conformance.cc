// Conformance: values, conversions, transaction semantics and error mapping.
// Concurrency and Migrate live in database_conformance_concurrency.cc.
#include "db/database_conformance.h"

#include <cstdint>
#include <limits>

namespace imgpipe::db {

using core::StatusCode;

void DatabaseConformance::ExecCommitted(std::string_view sql, std::span<const Value> params) {
  auto tx = db().Begin(TxMode::kWrite);
  ASSERT_TRUE(tx.ok()) << tx.status().ToString();
  auto changed = (*tx)->Exec(sql, params);
  ASSERT_TRUE(changed.ok()) << sql << ": " << changed.status().ToString();
  core::Status committed = (*tx)->Commit();
  ASSERT_TRUE(committed.ok()) << committed.ToString();
}

int64_t DatabaseConformance::Count(std::string_view table) {
  auto tx = db().Begin(TxMode::kRead);
  EXPECT_TRUE(tx.ok()) << tx.status().ToString();
  if (!tx.ok()) return -1;
  auto rows = (*tx)->Query("SELECT count(*) FROM " + std::string(table));
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  if (!rows.ok() || rows->size() != 1) return -1;
  return rows->front().Int(0);
}

namespace {

std::string AllBytes() {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  return bytes;
}

TEST(RowTest, Conversions) {
  Row row({Null{}, int64_t{42}, 2.5, std::string("17"), Blob{"9"}, std::string("-3.75"),
           std::string("abc"), std::string("12abc"), 1e300});
  EXPECT_TRUE(row.IsNull(0));
  EXPECT_FALSE(row.IsNull(1));
  EXPECT_EQ(row.Int(0), 0);
  EXPECT_EQ(row.Real(0), 0.0);
  EXPECT_EQ(row.Text(0), "");
  EXPECT_EQ(row.Int(1), 42);
  EXPECT_EQ(row.Real(1), 42.0);
  EXPECT_EQ(row.Text(1), "42");
  EXPECT_EQ(row.Int(2), 2);
  EXPECT_EQ(row.Text(2), "2.5");
  EXPECT_EQ(row.Int(3), 17);
  EXPECT_EQ(row.Real(3), 17.0);
  EXPECT_EQ(row.Text(4), "9");
  EXPECT_EQ(row.Int(4), 9);
  EXPECT_EQ(row.Int(5), -3);
  EXPECT_EQ(row.Real(5), -3.75);
  EXPECT_EQ(row.Int(6), 0);
  EXPECT_EQ(row.Int(7), 12);
  EXPECT_EQ(row.Int(8), std::numeric_limits<int64_t>::max());  // saturates, no UB
  EXPECT_EQ(row.size(), 9u);
  EXPECT_THROW((void)row.Int(9), std::out_of_range);
}

TEST_P(DatabaseConformance, EveryValueTypeRoundtrips) {
  ExecCommitted("CREATE TABLE v (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB)");
  const std::string binary = AllBytes();
  const std::vector<std::vector<Value>> inserts = {
      {int64_t{1}, std::numeric_limits<int64_t>::max(), 3.25, std::string("héllo 'quoted'"),
       Blob{binary}},
      {int64_t{2}, std::numeric_limits<int64_t>::min(), -0.5, std::string(""), Blob{""}},
      {int64_t{3}, Null{}, Null{}, Null{}, Null{}},
  };
  {
    auto tx = db().Begin(TxMode::kWrite);
    ASSERT_TRUE(tx.ok());
    for (const auto& params : inserts) {
      auto changed = (*tx)->Exec("INSERT INTO v (id, i, r, t, b) VALUES (?, ?, ?, ?, ?)", params);
      ASSERT_TRUE(changed.ok()) << changed.status().ToString();
      EXPECT_EQ(*changed, 1);
    }
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  auto tx = db().Begin(TxMode::kRead);
  ASSERT_TRUE(tx.ok());
  auto rows = (*tx)->Query("SELECT id, i, r, t, b FROM v ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 3u);
  const Row& a = (*rows)[0];
  EXPECT_EQ(std::get<int64_t>(a.at(1)), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(std::get<double>(a.at(2)), 3.25);
  EXPECT_EQ(std::get<std::string>(a.at(3)), "héllo 'quoted'");
  EXPECT_EQ(std::get<Blob>(a.at(4)).bytes, binary);
  const Row& b = (*rows)[1];
  EXPECT_EQ(b.Int(1), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(b.Real(2), -0.5);
  ASSERT_TRUE(std::holds_alternative<std::string>(b.at(3)));  // empty text is not NULL
  EXPECT_EQ(b.Text(3), "");
  ASSERT_TRUE(std::holds_alternative<Blob>(b.at(4)));  // empty blob is not NULL
  EXPECT_EQ(std::get<Blob>(b.at(4)).bytes, "");
  const Row& c = (*rows)[2];
  for (size_t i = 1; i < 5; ++i) EXPECT_TRUE(c.IsNull(i)) << i;
  EXPECT_EQ(c.Int(1), 0);
  EXPECT_EQ(c.Text(3), "");
}

TEST_P(DatabaseConformance, NullParametersAndEmptyResults) {
  ExecCommitted("CREATE TABLE n (k TEXT, v TEXT)");
  const Value row1[] = {std::string("a"), Null{}};
  ExecCommitted("INSERT INTO n (k, v) VALUES (?, ?)", row1);
  auto tx = db().Begin(TxMode::kRead);
  ASSERT_TRUE(tx.ok());
  auto nulls = (*tx)->Query("SELECT k FROM n WHERE v IS NULL");
  ASSERT_TRUE(nulls.ok());
  ASSERT_EQ(nulls->size(), 1u);
  EXPECT_EQ(nulls->front().Text(0), "a");
  const Value null_param[] = {Null{}};
  auto none = (*tx)->Query("SELECT k FROM n WHERE v = ?", null_param);  // NULL = NULL is unknown
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(DatabaseConformance, ExecReturnsChangedRows) {
  ExecCommitted("CREATE TABLE c (k INTEGER PRIMARY KEY, v INTEGER)");
  auto tx = db().Begin(TxMode::kWrite);
  ASSERT_TRUE(tx.ok());
  for (int64_t k = 1; k <= 3; ++k) {
    const Value params[] = {k, int64_t{0}};
    ASSERT_EQ(*(*tx)->Exec("INSERT INTO c (k, v) VALUES (?, ?)", params), 1);
  }
  EXPECT_EQ(*(*tx)->Exec("UPDATE c SET v = v + 1"), 3);
  EXPECT_EQ(*(*tx)->Exec("CREATE TABLE c2 (x INTEGER)"), 0);  // DDL changes no rows
  EXPECT_EQ(*(*tx)->Exec("SELECT * FROM c"), 0);
  EXPECT_EQ(*(*tx)->Exec("DELETE FROM c WHERE k > 1"), 2);
  EXPECT_EQ(*(*tx)->Exec("UPDATE c SET v = 5 WHERE k = 99"), 0);
  ASSERT_TRUE((*tx)->Commit().ok());
  EXPECT_EQ(Count("c"), 1);
}

TEST_P(DatabaseConformance, DestructorRollsBack) {
  ExecCommitted("CREATE TABLE r (k INTEGER)");
  {
    auto tx = db().Begin(TxMode::kWrite);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->Exec("INSERT INTO r (k) VALUES (1)").ok());
  }
  EXPECT_EQ(Count("r"), 0);
  ExecCommitted("INSERT INTO r (k) VALUES (2)");
  EXPECT_EQ(Count("r"), 1);
}

TEST_P(DatabaseConformance, CommitIsVisibleOnlyAfterwards) {
  ExecCommitted("CREATE TABLE w (k INTEGER)");
  auto writer = db().Begin(TxMode::kWrite);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Exec("INSERT INTO w (k) VALUES (7)").ok());
  EXPECT_EQ(Count("w"), 0);  // another transaction does not see uncommitted rows
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(Count("w"), 1);
  EXPECT_EQ((*writer)->Commit().code(), StatusCode::kInternal);  // committed already
  EXPECT_FALSE((*writer)->Exec("INSERT INTO w (k) VALUES (8)").ok());
  EXPECT_EQ(Count("w"), 1);
}

TEST_P(DatabaseConformance, UniqueViolationIsAlreadyExistsAndRollsBack) {
  ExecCommitted("CREATE TABLE u (k TEXT PRIMARY KEY, email TEXT UNIQUE)");
  const Value first[] = {std::string("a"), std::string("a@x")};
  ExecCommitted("INSERT INTO u (k, email) VALUES (?, ?)", first);

  auto tx = db().Begin(TxMode::kWrite);
  ASSERT_TRUE(tx.ok());
  const Value other[] = {std::string("b"), std::string("b@x")};
  ASSERT_TRUE((*tx)->Exec("INSERT INTO u (k, email) VALUES (?, ?)", other).ok());
  auto dup_key = (*tx)->Exec("INSERT INTO u (k, email) VALUES (?, ?)", first);
  EXPECT_EQ(dup_key.status().code(), StatusCode::kAlreadyExists) << dup_key.status().ToString();
  // Documented: the failure rolled the whole transaction back; it stays failed.
  EXPECT_EQ((*tx)->Query("SELECT k FROM u").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ((*tx)->Commit().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Count("u"), 1);  // "b" was rolled back with it

  auto tx2 = db().Begin(TxMode::kWrite);
  ASSERT_TRUE(tx2.ok());
  const Value dup_email[] = {std::string("c"), std::string("a@x")};
  EXPECT_EQ((*tx2)->Exec("INSERT INTO u (k, email) VALUES (?, ?)", dup_email).status().code(),
            StatusCode::kAlreadyExists);
}

TEST_P(DatabaseConformance, OnConflictDoNothingChangesNothing) {
  ExecCommitted("CREATE TABLE oc (k TEXT PRIMARY KEY, v INTEGER)");
  auto tx = db().Begin(TxMode::kWrite);
  ASSERT_TRUE(tx.ok());
  const Value params[] = {std::string("k"), int64_t{1}};
  const char* insert = "INSERT INTO oc (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING";
  EXPECT_EQ(*(*tx)->Exec(insert, params), 1);
  EXPECT_EQ(*(*tx)->Exec(insert, params), 0);
  const Value update[] = {std::string("k"), int64_t{2}};
  EXPECT_EQ(*(*tx)->Exec("INSERT INTO oc (k, v) VALUES (?, ?) "
                         "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                         update),
            1);
  ASSERT_TRUE((*tx)->Commit().ok());
  auto read = db().Begin(TxMode::kRead);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ((*(*read)->Query("SELECT v FROM oc")).front().Int(0), 2);
}

TEST_P(DatabaseConformance, BadSqlIsInternalNotACrash) {
  auto tx = db().Begin(TxMode::kWrite);
  ASSERT_TRUE(tx.ok());
  EXPECT_EQ((*tx)->Exec("SELEC nonsense").status().code(), StatusCode::kInternal);
  EXPECT_EQ((*tx)->Commit().code(), StatusCode::kInternal);
  auto tx2 = db().Begin(TxMode::kRead);
  ASSERT_TRUE(tx2.ok());
  EXPECT_EQ((*tx2)->Query("SELECT * FROM no_such_table").status().code(), StatusCode::kInternal);
  auto tx3 = db().Begin(TxMode::kRead);
  ASSERT_TRUE(tx3.ok());
  const Value one[] = {int64_t{1}};
  // Wrong number of parameters is a caller bug too.
  EXPECT_EQ((*tx3)->Query("SELECT ?, ?", one).status().code(), StatusCode::kInternal);
  auto tx4 = db().Begin(TxMode::kRead);
  ASSERT_TRUE(tx4.ok());
  auto ok = (*tx4)->Query("SELECT 1");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->front().Int(0), 1);
}

TEST_P(DatabaseConformance, LargeBlobRoundtrips) {
  ExecCommitted("CREATE TABLE big (b BLOB)");
  std::string bytes(8 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 11);
  const Value params[] = {Blob{bytes}};
  ExecCommitted("INSERT INTO big (b) VALUES (?)", params);
  auto tx = db().Begin(TxMode::kRead);
  ASSERT_TRUE(tx.ok());
  auto rows = (*tx)->Query("SELECT b FROM big");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_TRUE(std::get<Blob>(rows->front().at(0)).bytes == bytes);
}

TEST_P(DatabaseConformance, DescribeAndDialect) {
  EXPECT_FALSE(db().Describe().empty());
  Dialect d = db().dialect();
  EXPECT_TRUE(d == Dialect::kSqlite || d == Dialect::kPostgres);
}

}  // namespace
}  // namespace imgpipe::db
