#include "jobs/known_clients.h"

#include <gtest/gtest.h>

namespace imgpipe::jobs::internal {
namespace {

TEST(KnownClientsTest, RemembersAddedIdsUpToItsCapacityThenStartsOver) {
  KnownClients known(/*capacity=*/2);
  EXPECT_FALSE(known.Contains("a"));
  known.Add("a");
  known.Add("b");
  EXPECT_TRUE(known.Contains("a"));
  EXPECT_TRUE(known.Contains("b"));
  EXPECT_FALSE(known.Contains("c"));
  known.Add("c");  // full: emptied, then "c"
  EXPECT_TRUE(known.Contains("c"));
  EXPECT_FALSE(known.Contains("a"));
}

}  // namespace
}  // namespace imgpipe::jobs::internal
