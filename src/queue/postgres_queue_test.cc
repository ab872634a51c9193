// The SQL queue on PostgreSQL: the same conformance suite, on a fresh database of a throwaway
// PostgreSQL 15 (one server per test binary; db/postgres/test_support.h).
#include <memory>

#include "db/postgres/test_support.h"
#include "queue/queue_conformance.h"

namespace imgpipe::queue {
namespace {

core::Result<QueueHarness> MakePostgresHarness(const ServiceOptions& options) {
  std::shared_ptr<db::Database> owned;
  IMGPIPE_ASSIGN_OR_RETURN(owned, db::postgres::OpenFreshTestDatabase());
  QueueHarness harness;
  harness.db = owned.get();
  IMGPIPE_ASSIGN_OR_RETURN(harness.service, NewSqlQueueService(*owned, options));
  harness.owned = std::move(owned);
  return harness;
}

IMGPIPE_INSTANTIATE_QUEUE_CONFORMANCE(Postgres, MakePostgresHarness);

}  // namespace
}  // namespace imgpipe::queue
