// The S3 blob store against a real local S3 server (s3rver, started per test process), plus a
// scripted fake server for the failure paths.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "blob/blob_store_conformance.h"
#include "blob/s3/s3_client.h"
#include "blob/s3/s3_test_server.h"
#include "blob/s3/s3_xml.h"

namespace imgpipe::blob {
namespace {

using core::StatusCode;
using s3::FakeHttpServer;

constexpr char kBucket[] = "imgpipe-test";

S3Options BaseOptions(const std::string& endpoint) {
  S3Options options;
  options.endpoint = endpoint;
  options.bucket = kBucket;
  options.access_key_id = "S3RVER";  // s3rver's built-in account
  options.secret_access_key = "S3RVER";
  options.retry_backoff = std::chrono::milliseconds(1);
  return options;
}

// One s3rver for the whole test process, started on first use, with the test bucket made by a
// signed PUT.
s3::S3rver* Server() {
  static s3::S3rver* server = [] {
    auto* s = new s3::S3rver();
    if (!s->error().empty()) return s;
    auto client = s3::S3Client::Create(BaseOptions(s->endpoint()));
    if (client.ok()) {
      s3::HttpRequest create{"PUT", ""};
      auto response = (*client)->Send(create);
      EXPECT_TRUE(response.ok() && response->status == 200) << "cannot create the test bucket";
    }
    return s;
  }();
  return server;
}

// Kills s3rver at exit (a static destructor), only if it was started.
struct S3rverKiller {
  ~S3rverKiller() {
    if (started) delete Server();
  }
  bool started = false;
} killer;

std::unique_ptr<BlobStore> NewStore(const std::string& prefix, int page_size = 1000) {
  killer.started = true;
  s3::S3rver* server = Server();
  EXPECT_EQ(server->error(), "");
  if (!server->error().empty()) return nullptr;
  S3Options options = BaseOptions(server->endpoint());
  options.prefix = prefix;
  options.list_page_size = page_size;
  auto store = NewS3BlobStore(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

// A fresh, empty store per call: each under its own prefix of the one bucket. One list page:
// s3rver 3.7 pages by a directory walk, not in key order, so its later pages skip keys (pages are
// tested against FakeHttpServer below).
std::unique_ptr<BlobStore> FreshStore() {
  static std::atomic<int> counter{0};
  return NewStore("conformance-" + std::to_string(counter++));
}

IMGPIPE_INSTANTIATE_BLOB_STORE_CONFORMANCE(S3, [] { return FreshStore(); });

std::vector<BlobInfo> ListAll(BlobStore& store, std::string_view prefix = "") {
  std::vector<BlobInfo> out;
  EXPECT_TRUE(store
                  .List(prefix,
                        [&](const BlobInfo& info) {
                          out.push_back(info);
                          return true;
                        })
                  .ok());
  return out;
}

TEST(S3BlobStoreTest, MultipartRoundTrip) {
  auto store = NewStore("multipart");
  ASSERT_NE(store, nullptr);
  std::string big(40 << 20, '\0');  // 5 parts of 8 MiB
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  ASSERT_TRUE(store->Put("big/blob", big).ok());
  auto got = store->Get("big/blob");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == big);
  auto listed = ListAll(*store);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].key, "big/blob");
  EXPECT_EQ(listed[0].size, big.size());
  EXPECT_EQ(*store->Size("big/blob"), big.size());
}

TEST(S3BlobStoreTest, PrefixesIsolateStoresAndDescribeNamesThem) {
  auto a = NewStore("iso-a");
  auto b = NewStore("iso-a-b/");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Put("k", "in a").ok());
  ASSERT_TRUE(b->Put("k", "in b").ok());
  EXPECT_EQ(*a->Get("k"), "in a");
  EXPECT_EQ(ListAll(*a).size(), 1u);
  EXPECT_EQ(ListAll(*b).size(), 1u);
  EXPECT_EQ(a->Describe(), "s3://imgpipe-test/iso-a/ (" + Server()->endpoint() + ")");
}

TEST(S3BlobStoreTest, MissingBucketIsNotFound) {
  killer.started = true;
  ASSERT_EQ(Server()->error(), "");
  S3Options options = BaseOptions(Server()->endpoint());
  options.bucket = "no-such-bucket";
  auto store = NewS3BlobStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kNotFound);
  EXPECT_NE(store.status().message().find("no-such-bucket"), std::string::npos);
}

TEST(S3BlobStoreTest, ClosedPortIsUnavailableAfterRetries) {
  S3Options options = BaseOptions("http://127.0.0.1:" + std::to_string(s3::FreePort()));
  options.max_retries = 2;
  auto store = NewS3BlobStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(store.status().message().find("after 3 attempts"), std::string::npos)
      << store.status().message();
}

TEST(S3BlobStoreTest, RetriesServerErrorsThenSucceeds) {
  std::atomic<int> calls{0};
  FakeHttpServer server([&](const std::string&) -> FakeHttpServer::Reply {
    if (++calls <= 2) return {503, "<Error><Code>SlowDown</Code><Message>later</Message></Error>"};
    return {200};
  });
  auto store = NewS3BlobStore(BaseOptions(server.endpoint()));  // HEAD bucket: 503, 503, 200
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(calls.load(), 3);
  EXPECT_TRUE((*store)->Put("k", "v").ok());
  EXPECT_EQ(server.requests().back(), "PUT /imgpipe-test/k HTTP/1.1");
}

TEST(S3BlobStoreTest, GivesUpAfterMaxRetriesWithTheS3Error) {
  std::atomic<bool> failing{false};
  FakeHttpServer server([&](const std::string&) -> FakeHttpServer::Reply {
    if (failing) return {503, "<Error><Code>SlowDown</Code><Message>Reduce rate</Message></Error>"};
    return {200};
  });
  S3Options options = BaseOptions(server.endpoint());
  options.max_retries = 3;
  auto store = NewS3BlobStore(options);
  ASSERT_TRUE(store.ok());
  failing = true;
  size_t before = server.requests().size();
  core::Status status = (*store)->Put("k", "v");
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("SlowDown: Reduce rate"), std::string::npos) << status.message();
  EXPECT_EQ(server.requests().size() - before, 4u);  // 1 + 3 retries
}

TEST(S3BlobStoreTest, ClientErrorsAreNotRetried) {
  std::atomic<bool> failing{false};
  FakeHttpServer server([&](const std::string&) -> FakeHttpServer::Reply {
    if (failing) return {403, "<Error><Code>AccessDenied</Code><Message>no</Message></Error>"};
    return {200};
  });
  auto store = NewS3BlobStore(BaseOptions(server.endpoint()));
  ASSERT_TRUE(store.ok());
  failing = true;
  size_t before = server.requests().size();
  auto got = (*store)->Get("k");
  EXPECT_EQ(got.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(got.status().message().find("AccessDenied"), std::string::npos);
  EXPECT_EQ(server.requests().size() - before, 1u);
}

TEST(S3BlobStoreTest, FailedMultipartUploadIsAborted) {
  FakeHttpServer server([&](const std::string& line) -> FakeHttpServer::Reply {
    if (line.starts_with("POST ") && line.find("uploads") != std::string::npos) {
      return {200,
              "<InitiateMultipartUploadResult><UploadId>up&amp;1</UploadId>"
              "</InitiateMultipartUploadResult>"};
    }
    if (line.starts_with("PUT ") && line.find("partNumber=2") != std::string::npos) {
      return {400, "<Error><Code>InvalidPart</Code><Message>bad part</Message></Error>"};
    }
    if (line.starts_with("PUT ")) return {200, "", "ETag: \"e1\"\r\n"};
    return {204};
  });
  S3Options options = BaseOptions(server.endpoint());
  options.multipart_threshold = 6 << 20;
  options.part_size = 5 << 20;
  auto store = NewS3BlobStore(options);
  ASSERT_TRUE(store.ok());
  core::Status status = (*store)->Put("big", std::string(11 << 20, 'x'));
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("InvalidPart"), std::string::npos);
  auto requests = server.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back(), "DELETE /imgpipe-test/big?uploadId=up%261 HTTP/1.1");
}

TEST(S3BlobStoreTest, ListFollowsContinuationTokensAndStripsThePrefix) {
  FakeHttpServer server([&](const std::string& line) -> FakeHttpServer::Reply {
    if (!line.starts_with("GET ")) return {200};
    if (line.find("continuation-token=") == std::string::npos) {
      return {200,
              "<ListBucketResult><IsTruncated>true</IsTruncated>"
              "<NextContinuationToken>t+/=1</NextContinuationToken>"
              "<Contents><Key>p/a</Key><Size>1</Size></Contents>"
              "<Contents><Key>p/b c</Key><Size>9</Size></Contents>"  // not a valid key: skipped
              "<Contents><Key>p/b</Key><Size>2</Size></Contents></ListBucketResult>"};
    }
    if (line.find("continuation-token=t%2B%2F%3D1") == std::string::npos) return {400};
    return {200,
            "<ListBucketResult><IsTruncated>false</IsTruncated>"
            "<Contents><Key>p/c&amp;</Key><Size>3</Size></Contents>"
            "<Contents><Key>p/d</Key><Size>4</Size></Contents></ListBucketResult>"};
  });
  S3Options options = BaseOptions(server.endpoint());
  options.prefix = "p";
  options.list_page_size = 3;
  auto store = NewS3BlobStore(options);
  ASSERT_TRUE(store.ok());
  std::vector<std::string> keys;
  ASSERT_TRUE((*store)
                  ->List("",
                         [&](const BlobInfo& info) {
                           keys.push_back(info.key + ":" + std::to_string(info.size));
                           return true;
                         })
                  .ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"a:1", "b:2", "d:4"}));  // "c&" is not valid either
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);  // HEAD bucket, two pages
  EXPECT_EQ(requests[1], "GET /imgpipe-test?list-type=2&max-keys=3&prefix=p%2F HTTP/1.1");
}

TEST(S3BlobStoreTest, MissingCredentialsAreUnauthenticated) {
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  S3Options options;
  options.bucket = "b";
  options.endpoint = "http://127.0.0.1:1";
  EXPECT_EQ(NewS3BlobStore(options).status().code(), StatusCode::kUnauthenticated);
}

TEST(S3BlobStoreTest, AnEndpointWithCredentialsIsRefusedWithoutEchoingThem) {
  S3Options options = BaseOptions("http://AKIAEXAMPLE:hunter2@127.0.0.1:1");
  core::Result<std::unique_ptr<BlobStore>> store = NewS3BlobStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
  const std::string& message = store.status().message();
  EXPECT_NE(message.find("http://...@127.0.0.1:1"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  EXPECT_EQ(message.find("AKIAEXAMPLE"), std::string::npos) << message;
}

// Streaming above the multipart threshold: one part in memory at a time, every part but the
// last exactly part_size (S3 refuses smaller ones), then Get and GetRange across part seams.
TEST(S3BlobStoreTest, PutStreamUploadsPartByPart) {
  killer.started = true;
  ASSERT_EQ(Server()->error(), "");
  S3Options options = BaseOptions(Server()->endpoint());
  options.prefix = "stream";
  options.multipart_threshold = 5 << 20;
  options.part_size = 5 << 20;
  auto store = NewS3BlobStore(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::string data((12 << 20) + 3, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 2654435761u >> 24);
  size_t offset = 0, largest_read = 0;
  BlobStore::Reader read = [&](char* buf, size_t n) -> core::Result<size_t> {
    largest_read = std::max(largest_read, n);
    size_t take = std::min<size_t>({n, 700'001, data.size() - offset});
    std::memcpy(buf, data.data() + offset, take);
    offset += take;
    return take;
  };
  ASSERT_TRUE((*store)->PutStream("big", data.size(), read).ok());
  EXPECT_LE(largest_read, size_t{5 << 20});  // never asked for more than a part
  EXPECT_EQ((*store)->Get("big").value(), data);
  EXPECT_EQ((*store)->GetRange("big", (5 << 20) - 10, 20).value(), data.substr((5 << 20) - 10, 20));
  EXPECT_EQ((*store)->GetRange("big", data.size() - 2, 10).value(), data.substr(data.size() - 2));
  // A stream that breaks mid-way leaves no object (the upload is aborted).
  offset = 0;
  EXPECT_EQ((*store)->PutStream("broken", data.size() + 1, read).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->Get("broken").status().code(), StatusCode::kNotFound);
}

// References: objects imgpipe did not write, with names no blob key may have, served read-only
// beside a primary store (the seed's existing PACS bucket, indexed in place).
TEST(S3ReferencesTest, ListsAndReadsObjectsOfAnyNameAndNeverWritesThem) {
  ASSERT_NE(NewStore("refs-probe"), nullptr);  // starts s3rver and makes the bucket
  S3Options options = BaseOptions(Server()->endpoint());
  auto client = s3::S3Client::Create(options);
  ASSERT_TRUE(client.ok());
  const std::vector<std::pair<std::string, std::string>> objects = {
      {"archive/CT 1/img 001.dcm", "first"},
      {"archive/Übersicht (2).dcm", "second object"},
      {"archive2/not-under-the-prefix.dcm", "third"}};
  for (const auto& [name, data] : objects) {
    s3::HttpRequest put{"PUT", name, {}, {}, data};
    auto response = (*client)->Send(put);
    ASSERT_TRUE(response.ok() && response->status == 200) << name;
  }

  S3Options archive = options;
  archive.prefix = "archive";  // a folder: "archive2/..." is not under it
  std::vector<BlobInfo> listed;
  ASSERT_TRUE(ListS3Objects(archive, [&](const BlobInfo& info) {
                listed.push_back(info);
                return true;
              }).ok());
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].key, "archive/CT 1/img 001.dcm");
  EXPECT_EQ(listed[0].size, 5u);
  EXPECT_EQ(listed[1].key, "archive/Übersicht (2).dcm");

  auto store = WithReferences(NewMemBlobStore(), options);
  std::string first = ReferenceKey(kBucket, "archive/CT 1/img 001.dcm");
  EXPECT_TRUE(IsReference(first));
  EXPECT_FALSE(IsValidKey(first));
  auto got = store->Get(first);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "first");
  EXPECT_EQ(store->Get(ReferenceKey(kBucket, "archive/Übersicht (2).dcm")).value(),
            "second object");
  EXPECT_EQ(store->Size(first).value(), 5u);
  EXPECT_EQ(store->Put(first, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(store->PutIfAbsent(first, "x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(store->Delete(first).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(store->Get(first).value(), "first");  // untouched
  EXPECT_EQ(store->Get(ReferenceKey(kBucket, "archive/missing.dcm")).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store->Get(ReferenceKey("no-such-bucket", "a.dcm")).status().code(),
            StatusCode::kNotFound);
  // Other keys are the primary store's.
  ASSERT_TRUE(store->Put("pacs/a.dcm", "mine").ok());
  EXPECT_EQ(store->Get("pacs/a.dcm").value(), "mine");
}

TEST(S3ReferencesTest, OnlyWholeObjectUrlsAreReferences) {
  EXPECT_TRUE(IsReference("s3://bucket/key"));
  EXPECT_TRUE(IsReference("s3://bucket/a b/c.dcm"));
  EXPECT_FALSE(IsReference("s3://bucket/"));
  EXPECT_FALSE(IsReference("s3://bucket"));
  EXPECT_FALSE(IsReference("s3:///key"));
  EXPECT_FALSE(IsReference("pacs/1/2/3.dcm"));
  EXPECT_EQ(ReferenceKey("b", "x/y z"), "s3://b/x/y z");
}

TEST(S3UrlTest, Parse) {
  auto options = ParseS3Url("s3://bucket/some/prefix");
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->bucket, "bucket");
  EXPECT_EQ(options->prefix, "some/prefix");
  EXPECT_EQ(ParseS3Url("s3://bucket")->prefix, "");
  EXPECT_EQ(ParseS3Url("http://bucket").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseS3Url("s3:///prefix").status().code(), StatusCode::kInvalidArgument);
}

TEST(S3XmlTest, ElementsAndUnescape) {
  std::string xml =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><KeyCount>2</KeyCount>"
      "<Contents><Key>a&amp;b&lt;&#x41;&#233;</Key><Size>3</Size></Contents>"
      "<Contents><Key>c</Key><Size>0</Size></Contents><Marker/></ListBucketResult>";
  auto contents = s3::XmlElements(xml, "Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(s3::XmlText(contents[0], "Key"), "a&b<A\xc3\xa9");
  EXPECT_EQ(s3::XmlText(xml, "KeyCount"), "2");
  EXPECT_EQ(s3::XmlText(xml, "Key"), "a&b<A\xc3\xa9");  // not KeyCount
  EXPECT_EQ(s3::XmlText(xml, "Marker"), "");
  EXPECT_EQ(s3::XmlText(xml, "Missing"), std::nullopt);
  EXPECT_EQ(s3::XmlUnescape("&bogus; &amp"), "&bogus; &amp");
  EXPECT_EQ(s3::XmlEscape("\"a\"&<>"), "&quot;a&quot;&amp;&lt;&gt;");
}

}  // namespace
}  // namespace imgpipe::blob
