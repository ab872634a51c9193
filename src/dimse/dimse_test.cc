// The listener, driven by the module's own sender and by DCMTK's storescu / echoscu / findscu.
#include "dimse/dimse.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "core/temp_dir.h"
#include "dicom/dicom.h"
#include "dicom/test_util.h"
#include "dimse/test_support.h"

namespace imgpipe::dimse {
namespace {

using core::Status;

// Receives into memory; answers with `next_status` when set.
struct Received {
  std::mutex mu;
  std::vector<std::string> files;
  std::vector<StoreContext> contexts;
  std::vector<Status> statuses;  // answered in order, then ok
  size_t calls = 0;

  StoreHandler Handler() {
    return [this](std::string part10, const StoreContext& ctx) {
      std::lock_guard lock(mu);
      files.push_back(std::move(part10));
      contexts.push_back(ctx);
      return calls < statuses.size() ? statuses[calls++] : (++calls, Status::Ok());
    };
  }
  size_t size() {
    std::lock_guard lock(mu);
    return files.size();
  }
};

ListenerOptions Options(Received& received) {
  ListenerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.ae_title = "IMGPIPE";
  o.on_store = received.Handler();
  o.acse_timeout = std::chrono::seconds(5);
  o.dimse_timeout = std::chrono::seconds(5);
  return o;
}

RemoteNode Node(int port, std::string called = "IMGPIPE", std::string calling = "TESTSCU") {
  RemoteNode n;
  n.host = "127.0.0.1";
  n.port = port;
  n.called_aet = std::move(called);
  n.calling_aet = std::move(calling);
  n.timeout = std::chrono::seconds(10);
  return n;
}

std::vector<dicom::DemoFile> Demo() {
  static const std::vector<dicom::DemoFile> demo = dicom::MakeDemoDataset();
  return demo;
}

// Small images in several transfer syntaxes, each with its own SOP instance UID.
std::vector<std::string> SyntaxZoo() {
  std::vector<std::string> files;
  int n = 0;
  for (E_TransferSyntax xfer :
       {EXS_LittleEndianImplicit, EXS_BigEndianExplicit, EXS_DeflatedLittleEndianExplicit,
        EXS_JPEGProcess14SV1, EXS_JPEGLSLossless, EXS_RLELossless}) {
    dicom::testing::ImageSpec spec;
    spec.rows = 32;
    spec.columns = 32;
    spec.pixels = dicom::testing::Pattern(32 * 32, 1, 0xff, n);
    auto ff = dicom::testing::MakeImage(spec);
    std::string uid = "1.2.826.0.1.3680043.2.1125.9." + std::to_string(++n);
    ff->getDataset()->putAndInsertString(DCM_SOPInstanceUID, uid.c_str());
    files.push_back(dicom::testing::Save(*ff, xfer));
  }
  return files;
}

TEST(ListenerTest, EchoAndStoreRoundTrip) {
  Received received;
  Listener listener(Options(received));
  auto port = listener.Start();
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  ASSERT_GT(*port, 0);
  ASSERT_TRUE(Echo(Node(*port)).ok());

  auto demo = Demo();
  std::vector<std::string> files = {demo.front().bytes, demo[demo.size() / 2].bytes,
                                    demo.back().bytes};
  auto outcomes = Store(Node(*port), files);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().ToString();
  for (const auto& o : *outcomes) EXPECT_EQ(o.status, 0) << o.error;
  ASSERT_EQ(received.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    auto sent = dicom::ParseInstance(files[i]);
    auto got = dicom::ParseInstance(received.files[i]);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->sop_instance_uid, sent->sop_instance_uid);
    EXPECT_EQ(got->transfer_syntax_uid, sent->transfer_syntax_uid);
    EXPECT_EQ(received.contexts[i].calling_aet, "TESTSCU");
    EXPECT_EQ(received.contexts[i].peer_address, "127.0.0.1");
    EXPECT_EQ(received.contexts[i].sop_instance_uid, sent->sop_instance_uid);
    auto a = dicom::DecodeFrame(files[i], 1);
    auto b = dicom::DecodeFrame(received.files[i], 1);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(a->pixels, b->pixels);
  }
  listener.Stop();
  listener.Stop();  // idempotent
}

TEST(ListenerTest, EveryTransferSyntaxArrivesAsSent) {
  Received received;
  Listener listener(Options(received));
  auto port = listener.Start();
  ASSERT_TRUE(port.ok());
  auto files = SyntaxZoo();
  auto outcomes = Store(Node(*port), files);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().ToString();
  ASSERT_EQ(received.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ((*outcomes)[i].status, 0) << (*outcomes)[i].error;
    auto sent = dicom::ParseInstance(files[i]);
    auto got = dicom::ParseInstance(received.files[i]);
    ASSERT_TRUE(sent.ok() && got.ok()) << got.status().ToString();
    EXPECT_EQ(got->transfer_syntax_uid, sent->transfer_syntax_uid) << "transcoded";
    auto a = dicom::DecodeFrame(files[i], 1);
    auto b = dicom::DecodeFrame(received.files[i], 1);
    ASSERT_TRUE(a.ok()) << sent->transfer_syntax_uid << " as sent: " << a.status().ToString();
    ASSERT_TRUE(b.ok()) << sent->transfer_syntax_uid << " as received: " << b.status().ToString();
    EXPECT_EQ(a->pixels, b->pixels) << sent->transfer_syntax_uid;
  }
}

TEST(ListenerTest, HandlerErrorsBecomeFailureStatuses) {
  Received received;
  received.statuses = {Status::InvalidArgument("bad"),     Status::ResourceExhausted("full"),
                       Status::Conflict("mismatch"),       Status::AlreadyExists("dup"),
                       Status::Unprocessable("no pixels"), Status::Unavailable("down")};
  Listener listener(Options(received));
  auto port = listener.Start();
  ASSERT_TRUE(port.ok());
  auto files = SyntaxZoo();
  auto outcomes = Store(Node(*port), files);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().ToString();
  std::vector<uint16_t> expected = {0xC000, 0xA700, 0xA900, 0x0000, 0xC000, 0xA700};
  ASSERT_EQ(outcomes->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ((*outcomes)[i].status, expected[i]) << i;
    if (expected[i] != 0) {
      EXPECT_FALSE((*outcomes)[i].error.empty());
    }
  }
}

TEST(ListenerTest, WrongCalledAeAndUnknownCallingAeAreRejected) {
  Received received;
  ListenerOptions o = Options(received);
  o.allowed_calling_aets = {"GOODSCU"};
  Listener listener(o);
  auto port = listener.Start();
  ASSERT_TRUE(port.ok());
  Status wrong_called = Echo(Node(*port, "SOMEONE", "GOODSCU"));
  EXPECT_EQ(wrong_called.code(), core::StatusCode::kUnavailable);
  EXPECT_NE(wrong_called.message().find("rejected"), std::string::npos) << wrong_called.message();
  Status unknown_calling = Echo(Node(*port, "IMGPIPE", "BADSCU"));
  EXPECT_EQ(unknown_calling.code(), core::StatusCode::kUnavailable);
  EXPECT_TRUE(Echo(Node(*port, "IMGPIPE", "GOODSCU")).ok());
  auto outcomes = Store(Node(*port, "IMGPIPE", "BADSCU"), {Demo().front().bytes});
  EXPECT_EQ(outcomes.status().code(), core::StatusCode::kUnavailable);
  EXPECT_EQ(received.size(), 0u);
}

TEST(ListenerTest, OversizedInstanceIsRefusedAndTheAssociationGoesOn) {
  Received received;
  ListenerOptions o = Options(received);
  o.max_instance_bytes = 64 * 1024;  // a demo CT slice is 512 KiB of pixels
  Listener listener(o);
  auto port = listener.Start();
  ASSERT_TRUE(port.ok());
  auto small = SyntaxZoo();
  auto outcomes = Store(Node(*port), {Demo().front().bytes, small.front()});
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().ToString();
  EXPECT_EQ((*outcomes)[0].status, 0xA700);
  EXPECT_EQ((*outcomes)[1].status, 0) << (*outcomes)[1].error;
  EXPECT_EQ(received.size(), 1u);
}

TEST(ListenerTest, GarbageAndDroppedConnectionsDoNotStopIt) {
  Received received;
  Listener listener(Options(received));
  auto port = listener.Start();
  ASSERT_TRUE(port.ok());
  // Raw garbage (a wrong PDU type; an A-ASSOCIATE-RQ with an absurd length; a truncated one),
  // and a connection closed at once.
  EXPECT_TRUE(testing::SendRaw(*port, "GET / HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(testing::SendRaw(*port, std::string("\x01\x00\x7f\xff\xff\xffgarbage", 13)));
  EXPECT_TRUE(testing::SendRaw(*port, std::string("\x01\x00\x00\x00\x00\x40\x00\x01", 8)));
  EXPECT_TRUE(testing::SendRaw(*port, ""));
  EXPECT_TRUE(Echo(Node(*port)).ok());
  // Stalled peers (silent, or stopped halfway through their request) hold no one else up.
  int silent = testing::ConnectAndSend(*port, "");
  int halfway = testing::ConnectAndSend(*port, std::string("\x01\x00\x00\x00\x01\x00\x00", 7));
  ASSERT_GE(silent, 0);
  ASSERT_GE(halfway, 0);
  EXPECT_TRUE(Echo(Node(*port)).ok());
  ::close(silent);
  ::close(halfway);
}

TEST(ListenerTest, AssociationsBeyondTheLimitAreRejected) {
  Received received;
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  ListenerOptions o = Options(received);
  o.max_associations = 1;
  o.on_store = [&](std::string, const StoreContext&) {
    entered.set_value();
    released.wait();
    return Status::Ok();
  };
  Listener listener(o);
  auto port = listener.Start();
  ASSERT_TRUE(port.ok());
  auto store =
      std::async(std::launch::async, [&] { return Store(Node(*port), {SyntaxZoo().front()}); });
  entered.get_future().wait();  // the first association is open, blocked in the handler
  Status second = Echo(Node(*port));
  EXPECT_EQ(second.code(), core::StatusCode::kUnavailable);
  release.set_value();
  auto outcomes = store.get();
  ASSERT_TRUE(outcomes.ok()) << outcomes.status().ToString();
  EXPECT_EQ((*outcomes)[0].status, 0);
  // Slot freed: a new association is accepted (the worker is reaped asynchronously).
  bool ok = false;
  for (int i = 0; i < 50 && !ok; ++i) {
    ok = Echo(Node(*port)).ok();
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(ok);
}

TEST(ListenerTest, DcmtkClientsEchoStoreAndFind) {
  Received received;
  ListenerOptions o = Options(received);
  std::mutex mu;
  std::vector<FindQuery> queries;
  o.on_find = [&](const FindQuery& q) -> core::Result<std::vector<FindMatch>> {
    std::lock_guard lock(mu);
    queries.push_back(q);
    FindMatch m;
    m[MakeTag(0x0020, 0x000D)] = "1.2.3.4.5";
    m[MakeTag(0x0010, 0x0020)] = "PID42";
    m[MakeTag(0x0008, 0x0060)] = "CT";  // not requested: left out
    return std::vector<FindMatch>{m, m};
  };
  Listener listener(o);
  auto port = listener.Start();
  ASSERT_TRUE(port.ok());
  std::string p = std::to_string(*port);
  auto echo = testing::Run("echoscu -aec IMGPIPE 127.0.0.1 " + p);
  EXPECT_EQ(echo.status, 0) << echo.output;
  auto wrong = testing::Run("echoscu -aec NOTUS 127.0.0.1 " + p);
  EXPECT_NE(wrong.status, 0) << wrong.output;

  // storescu proposes a compressed syntax only when told (-xs, -xt, -xr, -xd), so each file goes
  // with the option matching its own syntax and arrives as sent.
  core::TempDir dir("dimse-storescu");
  auto zoo = SyntaxZoo();
  const char* options[] = {"-xi", "-xb", "-xd", "-xs", "-xt", "-xr"};  // SyntaxZoo's order
  for (size_t i = 0; i < zoo.size(); ++i) {
    std::string path = dir.path() + "/f" + std::to_string(i) + ".dcm";
    std::ofstream(path, std::ios::binary) << zoo[i];
    auto store = testing::Run(std::string("storescu -R ") + options[i] +
                              " -aec IMGPIPE -aet STORESCU 127.0.0.1 " + p + " " + path);
    EXPECT_EQ(store.status, 0) << options[i] << ": " << store.output;
  }
  ASSERT_EQ(received.size(), zoo.size());
  for (size_t i = 0; i < zoo.size(); ++i) {
    auto sent = dicom::ParseInstance(zoo[i]);
    auto got = dicom::ParseInstance(received.files[i]);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->transfer_syntax_uid, sent->transfer_syntax_uid);
    EXPECT_EQ(received.contexts[i].calling_aet, "STORESCU");
  }

  auto find = testing::Run(
      "findscu -v -S -aec IMGPIPE -k QueryRetrieveLevel=STUDY "
      "-k StudyInstanceUID -k PatientID=PID* 127.0.0.1 " +
      std::to_string(*port));
  EXPECT_EQ(find.status, 0) << find.output;
  EXPECT_NE(find.output.find("1.2.3.4.5"), std::string::npos) << find.output;
  EXPECT_NE(find.output.find("PID42"), std::string::npos) << find.output;
  std::lock_guard lock(mu);
  ASSERT_EQ(queries.size(), 1u);
  EXPECT_EQ(queries[0].level, QueryLevel::kStudy);
  EXPECT_EQ(queries[0].keys.at(MakeTag(0x0010, 0x0020)), "PID*");
  EXPECT_EQ(queries[0].keys.at(MakeTag(0x0020, 0x000D)), "");
  EXPECT_EQ(queries[0].peer.calling_aet, "FINDSCU");
}

TEST(ListenerTest, BadOptionsAreRefused) {
  Received received;
  ListenerOptions o = Options(received);
  o.ae_title = "THIS_TITLE_IS_TOO_LONG";
  EXPECT_EQ(Listener(o).Start().status().code(), core::StatusCode::kInvalidArgument);
  o = Options(received);
  o.on_store = nullptr;
  EXPECT_EQ(Listener(o).Start().status().code(), core::StatusCode::kInvalidArgument);
  // A taken port is Unavailable.
  Listener first(Options(received));
  auto port = first.Start();
  ASSERT_TRUE(port.ok());
  o = Options(received);
  o.port = *port;
  EXPECT_EQ(Listener(o).Start().status().code(), core::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace imgpipe::dimse
