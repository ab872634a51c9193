// The sender against DCMTK's own storescp (an independent implementation), run as a child.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/temp_dir.h"
#include "dicom/dicom.h"
#include "dimse/dimse.h"
#include "dimse/test_support.h"

namespace imgpipe::dimse {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;
using testing::FreePort;

RemoteNode NodeAt(int port, std::string called = "STORESCP") {
  RemoteNode node;
  node.host = "127.0.0.1";
  node.port = port;
  node.called_aet = std::move(called);
  node.calling_aet = "IMGPIPE";
  node.timeout = std::chrono::seconds(10);
  return node;
}

// Waits until `node` answers C-ECHO (the child needs a moment to listen); bounded.
bool WaitForEcho(const RemoteNode& node) {
  for (int i = 0; i < 100; ++i) {
    if (Echo(node).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

TEST(SenderTest, EchoAndStoreToDcmtkStorescp) {
  core::TempDir out("dimse-storescp");
  int port = FreePort();
  ChildProcess scp(
      {"storescp", "--aetitle", "STORESCP", "--output-directory", out.path(), std::to_string(port)},
      out.path() + "/../storescp-" + std::to_string(port) + ".log");
  RemoteNode node = NodeAt(port);
  ASSERT_TRUE(WaitForEcho(node)) << "storescp did not answer C-ECHO";

  auto demo = dicom::MakeDemoDataset();
  ASSERT_GE(demo.size(), 3u);
  // A CT slice, an MR slice and the DX image: three SOP classes on one association.
  std::vector<std::string> files = {demo.front().bytes, demo[demo.size() / 2].bytes,
                                    demo.back().bytes};
  std::vector<std::string> uids;
  for (const auto& f : files) {
    auto info = dicom::ParseInstance(f);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    uids.push_back(info->sop_instance_uid);
  }
  auto outcomes = Store(node, files);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().ToString();
  ASSERT_EQ(outcomes->size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ((*outcomes)[i].status, 0) << (*outcomes)[i].error;
    EXPECT_EQ((*outcomes)[i].sop_instance_uid, uids[i]);
  }
  // storescp names each file after the SOP instance UID: every one arrived.
  auto names = FilesIn(out.path());
  for (const std::string& uid : uids) {
    bool found = false;
    for (const std::string& n : names) found = found || n.find(uid) != std::string::npos;
    EXPECT_TRUE(found) << uid << " not written by storescp";
  }
}

TEST(SenderTest, UnreadableFileGetsAnOutcomeWithoutAnAssociation) {
  // No peer listens on this port: an association attempt would fail, yet the call succeeds
  // because nothing is sendable.
  auto outcomes = Store(NodeAt(FreePort()), {"not dicom at all"});
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().ToString();
  ASSERT_EQ(outcomes->size(), 1u);
  EXPECT_EQ((*outcomes)[0].status, 0xC000);
  EXPECT_FALSE((*outcomes)[0].error.empty());
}

TEST(SenderTest, UnreachableNodeIsUnavailable) {
  RemoteNode node = NodeAt(FreePort());
  node.timeout = std::chrono::seconds(2);
  EXPECT_EQ(Echo(node).code(), core::StatusCode::kUnavailable);
  auto demo = dicom::MakeDemoDataset();
  auto outcomes = Store(node, {demo.front().bytes});
  EXPECT_EQ(outcomes.status().code(), core::StatusCode::kUnavailable);
}

TEST(SenderTest, BadNodeIsInvalidArgument) {
  RemoteNode node = NodeAt(104, "");
  EXPECT_EQ(Echo(node).code(), core::StatusCode::kInvalidArgument);
  node.called_aet = "WAY_TOO_LONG_AE_TITLE";
  EXPECT_EQ(Echo(node).code(), core::StatusCode::kInvalidArgument);
  node.called_aet = "OK";
  node.port = 0;
  EXPECT_EQ(Echo(node).code(), core::StatusCode::kInvalidArgument);
}

TEST(AeTitleTest, Validation) {
  EXPECT_TRUE(ValidateAeTitle("IMGPIPE").ok());
  EXPECT_TRUE(ValidateAeTitle("A B-1_2").ok());
  EXPECT_TRUE(ValidateAeTitle("1234567890123456").ok());
  EXPECT_FALSE(ValidateAeTitle("").ok());
  EXPECT_FALSE(ValidateAeTitle("12345678901234567").ok());
  EXPECT_FALSE(ValidateAeTitle("A\\B").ok());
  EXPECT_FALSE(ValidateAeTitle("A\nB").ok());
  EXPECT_FALSE(ValidateAeTitle("   ").ok());
}

TEST(StoreStatusTest, Mapping) {
  EXPECT_EQ(StoreStatusFor(core::Status::Ok()), 0x0000);
  EXPECT_EQ(StoreStatusFor(core::Status::AlreadyExists("x")), 0x0000);
  EXPECT_EQ(StoreStatusFor(core::Status::ResourceExhausted("x")), 0xA700);
  EXPECT_EQ(StoreStatusFor(core::Status::Unavailable("x")), 0xA700);
  EXPECT_EQ(StoreStatusFor(core::Status::Conflict("x")), 0xA900);
  EXPECT_EQ(StoreStatusFor(core::Status::InvalidArgument("x")), 0xC000);
  EXPECT_EQ(StoreStatusFor(core::Status::Unprocessable("x")), 0xC000);
}

}  // namespace
}  // namespace imgpipe::dimse
