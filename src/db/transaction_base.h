// Internal to the db module: the transaction state machine every backend shares. The first
// failed statement rolls the whole transaction back at once (PostgreSQL's semantics, kept on
// SQLite too so callers behave the same on both) and frees its connection; every later call
// returns that error. A backend supplies the statements and the connection's release.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "db/database.h"

namespace imgpipe::db {

class TransactionBase : public Transaction {
 public:
  core::Result<int64_t> Exec(std::string_view sql, std::span<const Value> params) final;
  core::Result<std::vector<Row>> Query(std::string_view sql, std::span<const Value> params) final;
  core::Status Commit() final;

 protected:
  virtual core::Result<int64_t> RunExec(std::string_view sql, std::span<const Value> params) = 0;
  virtual core::Result<std::vector<Row>> RunQuery(std::string_view sql,
                                                  std::span<const Value> params) = 0;
  virtual core::Status RunCommit() = 0;
  // Gives the connection back to its pool (rolled back unless committed). Idempotent; the
  // derived destructor must call it (virtual calls do not reach it from ours).
  virtual void Release() = 0;

 private:
  core::Status CheckUsable() const;
  void Fail(core::Status status);

  bool committed_ = false;
  core::Status error_;
};

}  // namespace imgpipe::db
