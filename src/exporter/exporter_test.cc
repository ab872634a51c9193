#include "exporter/exporter.h"

#include <gtest/gtest.h>

#include "exporter/internal.h"

namespace imgpipe::exporter {
namespace {

using core::StatusCode;

TEST(DestinationsTest, ParsesBothTypesWithDefaults) {
  auto parsed = ParseDestinations(R"({"destinations":[
    {"name":"pacs","type":"dicom","host":"10.0.0.2","port":4242,"called_aet":"ORTHANC"},
    {"name":"web-1","type":"dicomweb","url":"http://10.0.0.2:8042/dicom-web/",
     "headers":{"Authorization":"Bearer s3cret"},"max_attempts":2,"timeout_s":5}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), 2u);
  const Destination& pacs = (*parsed)[0];
  EXPECT_EQ(pacs.type, DestinationType::kDicom);
  EXPECT_EQ(pacs.host, "10.0.0.2");
  EXPECT_EQ(pacs.port, 4242);
  EXPECT_EQ(pacs.called_aet, "ORTHANC");
  EXPECT_EQ(pacs.calling_aet, "IMGPIPE");
  EXPECT_EQ(pacs.max_attempts, 5);
  const Destination& web = (*parsed)[1];
  EXPECT_EQ(web.type, DestinationType::kDicomWeb);
  EXPECT_EQ(web.url, "http://10.0.0.2:8042/dicom-web");  // trailing slash dropped
  ASSERT_EQ(web.headers.size(), 1u);
  EXPECT_EQ(web.headers[0].second, "Bearer s3cret");
  EXPECT_EQ(web.max_attempts, 2);
  EXPECT_EQ(web.timeout, std::chrono::seconds(5));
  EXPECT_EQ(Names(*parsed), (std::set<std::string>{"pacs", "web-1"}));
}

TEST(DestinationsTest, RefusesBadDocumentsWithoutEchoingSecrets) {
  const std::pair<const char*, const char*> cases[] = {
      {"[]", "expected"},
      {"{", "not valid JSON"},
      {R"({"destinations":[{"name":"Bad_Name","type":"dicom"}]})", "name must be"},
      {R"({"destinations":[{"name":"a","type":"ftp"}]})", "type must be"},
      {R"({"destinations":[{"name":"a","type":"dicom","host":"h","called_aet":"X"},
                           {"name":"a","type":"dicom","host":"h","called_aet":"X"}]})",
       "named twice"},
      {R"({"destinations":[{"name":"a","type":"dicom","called_aet":"X"}]})", "\"host\" is missing"},
      {R"({"destinations":[{"name":"a","type":"dicom","host":"h","called_aet":"X","port":0}]})",
       "\"port\""},
      {R"({"destinations":[{"name":"a","type":"dicom","host":"h","called_aet":"WAY-TOO-LONG-AE-TITLE"}]})",
       "AE titles"},
      {R"({"destinations":[{"name":"a","type":"dicomweb","url":"https://x"}]})", "http://"},
      {R"({"destinations":[{"name":"a","type":"dicomweb","url":"http://x","host":"h"}]})",
       "unknown field \"host\""},
      {R"({"destinations":[{"name":"a","type":"dicomweb","url":"http://x",
           "headers":{"Authorization":"top-secret\r\nX: y"}}]})",
       "not a valid header"},
      {R"({"destinations":[{"name":"a","type":"dicomweb","url":"http://x","max_attempts":0}]})",
       "max_attempts"},
  };
  for (const auto& [text, expected] : cases) {
    auto parsed = ParseDestinations(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(parsed.status().message().find(expected), std::string::npos)
        << parsed.status().message();
    EXPECT_EQ(parsed.status().message().find("top-secret"), std::string::npos);
  }
}

TEST(DestinationsTest, EmptyPathMeansNoneAndAMissingFileIsRefused) {
  auto none = LoadDestinations("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto missing = LoadDestinations("/nonexistent/destinations.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot read"), std::string::npos);
}

TEST(StowTest, BodyIsMultipartRelatedWithOnePartPerFile) {
  std::vector<std::string> files = {"DICM-one", std::string("two\0bytes", 9)};
  std::string boundary = NewBoundary(files);
  EXPECT_EQ(files[0].find(boundary), std::string::npos);
  std::string body = StowBody(files, boundary);
  const std::string part = "--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n";
  EXPECT_EQ(body, part + "DICM-one\r\n" + part + std::string("two\0bytes", 9) + "\r\n--" +
                      boundary + "--\r\n");
}

TEST(StowTest, JudgesTheResponse) {
  // All stored (Orthanc answers 200 with the ReferencedSOPSequence).
  StowVerdict ok = JudgeStowResponse(
      200, R"({"00081199":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.3"]}},
                                                {"00081155":{"vr":"UI","Value":["1.2.4"]}}]}})",
      2);
  EXPECT_EQ(ok.stored, 2);
  EXPECT_EQ(ok.error, "");
  // 200 without a body that says: trusted.
  EXPECT_EQ(JudgeStowResponse(200, "", 3).stored, 3);
  EXPECT_EQ(JudgeStowResponse(200, "", 3).error, "");
  // 202: some refused, named with their reason.
  StowVerdict partial = JudgeStowResponse(
      202, R"([{"00081199":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.3"]}}]},
                "00081198":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.9"]},
                                               "00081197":{"vr":"US","Value":[272]}}]}}])",
      2);
  EXPECT_EQ(partial.stored, 1);
  EXPECT_NE(partial.error.find("1 of 2 instances refused"), std::string::npos) << partial.error;
  EXPECT_NE(partial.error.find("1.2.9 (0x0110)"), std::string::npos) << partial.error;
  // An error status without a body: nothing stored.
  StowVerdict refused = JudgeStowResponse(415, "unsupported", 4);
  EXPECT_EQ(refused.stored, 0);
  EXPECT_NE(refused.error.find("answered 415"), std::string::npos) << refused.error;
  EXPECT_NE(refused.error.find("4 of 4"), std::string::npos) << refused.error;
}

TEST(StowTest, AnUnreachableServerIsAnErrorNamingTheUrl) {
  Destination d;
  d.name = "web";
  d.type = DestinationType::kDicomWeb;
  d.url = "http://127.0.0.1:1/dicom-web";
  d.headers = {{"Authorization", "Bearer top-secret"}};
  d.timeout = std::chrono::seconds(5);
  SendReport report = SendTo(d, {"DICM"});
  EXPECT_EQ(report.stored, 0);
  EXPECT_NE(report.error.find("http://127.0.0.1:1/dicom-web"), std::string::npos) << report.error;
  EXPECT_EQ(report.error.find("top-secret"), std::string::npos);
}

TEST(CStoreTest, WarningsCountAsStored) {
  EXPECT_TRUE(internal::IsStored(0x0000));
  EXPECT_TRUE(internal::IsStored(0xB000));
  EXPECT_TRUE(internal::IsStored(0xB007));
  EXPECT_FALSE(internal::IsStored(0xA700));
  EXPECT_FALSE(internal::IsStored(0xC000));
}

}  // namespace
}  // namespace imgpipe::exporter
