// The one conformance suite every BlobStore backend passes (DESIGN.md "Each backend interface has
// one conformance test suite").
//
// A backend test instantiates it with a factory that returns a fresh, EMPTY store per call (for
// S3: a unique prefix or bucket per call), e.g.
//
//   IMGPIPE_INSTANTIATE_BLOB_STORE_CONFORMANCE(Fs, [] { return MakeTempFsStore(); });
//
// The factory may return nullptr to fail the test (e.g. when the backend cannot be reached).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "blob/blob_store.h"

namespace imgpipe::blob {

// A named factory; the name labels the instantiated tests.
struct BlobStoreFactory {
  std::string name;
  std::function<std::unique_ptr<BlobStore>()> make;
};
inline void PrintTo(const BlobStoreFactory& factory, std::ostream* os) { *os << factory.name; }

class BlobStoreConformance : public ::testing::TestWithParam<BlobStoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam().make();
    ASSERT_NE(store_, nullptr) << "the backend factory returned no store";
  }
  void TearDown() override { store_.reset(); }

  BlobStore& store() { return *store_; }

 private:
  std::unique_ptr<BlobStore> store_;
};

}  // namespace imgpipe::blob

// Runs every BlobStoreConformance test against the stores `factory` makes. Expand it inside
// namespace imgpipe::blob (gtest pastes the suite name, so it cannot be qualified).
#define IMGPIPE_INSTANTIATE_BLOB_STORE_CONFORMANCE(label, factory)                                \
  INSTANTIATE_TEST_SUITE_P(label, BlobStoreConformance,                                           \
                           ::testing::Values(::imgpipe::blob::BlobStoreFactory{#label, factory}), \
                           [](const auto& info) { return info.param.name; })
