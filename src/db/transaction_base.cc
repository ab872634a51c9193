#include "db/transaction_base.h"

namespace imgpipe::db {

core::Result<int64_t> TransactionBase::Exec(std::string_view sql, std::span<const Value> params) {
  IMGPIPE_RETURN_IF_ERROR(CheckUsable());
  auto result = RunExec(sql, params);
  if (!result.ok()) Fail(result.status());
  return result;
}

core::Result<std::vector<Row>> TransactionBase::Query(std::string_view sql,
                                                      std::span<const Value> params) {
  IMGPIPE_RETURN_IF_ERROR(CheckUsable());
  auto result = RunQuery(sql, params);
  if (!result.ok()) Fail(result.status());
  return result;
}

core::Status TransactionBase::Commit() {
  IMGPIPE_RETURN_IF_ERROR(CheckUsable());
  core::Status status = RunCommit();
  if (!status.ok()) {
    Fail(status);
    return status;
  }
  committed_ = true;
  Release();
  return core::Status::Ok();
}

core::Status TransactionBase::CheckUsable() const {
  if (committed_) return core::Status::Internal("transaction already committed");
  if (!error_.ok()) {
    return core::Status(error_.code(), "transaction rolled back after: " + error_.message());
  }
  return core::Status::Ok();
}

void TransactionBase::Fail(core::Status status) {
  error_ = std::move(status);
  Release();
}

}  // namespace imgpipe::db
