#include <gtest/gtest.h>

#include "rules/rules.h"

namespace imgpipe::rules {
namespace {

const algorithms::Registry& Registry() { return algorithms::Registry::BuiltIn(); }

constexpr std::string_view kGood = R"({"rules":[
  {"name":"chest-ct-lung","when":{"Modality":"CT","BodyPartExamined":"chest"},
   "algorithm":"threshold","params":{"method":"hu_range","preset":"lung"},"scope":"series",
   "quiet_seconds":2,"export":["orthanc"]},
  {"name":"any-mr","when":{"Modality":"MR","SeriesDescription":"*T1*"},"algorithm":"denoise"}
]})";

TEST(RuleFileTest, ParsesAValidFile) {
  auto rules = ParseRules(kGood, Registry());
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  ASSERT_EQ(rules->size(), 2u);
  const Rule& ct = (*rules)[0];
  EXPECT_EQ(ct.name, "chest-ct-lung");
  ASSERT_EQ(ct.when.size(), 2u);
  EXPECT_EQ(ct.when[1], std::make_pair(std::string("BodyPartExamined"), std::string("chest")));
  EXPECT_EQ(ct.algorithm, "threshold");
  EXPECT_EQ(ct.params.at("preset").as_string(), "lung");
  EXPECT_EQ(ct.quiet_seconds, 2);
  EXPECT_EQ(ct.export_destinations, std::vector<std::string>{"orthanc"});
  const Rule& mr = (*rules)[1];
  EXPECT_EQ(mr.scope, "series");  // the defaults
  EXPECT_EQ(mr.quiet_seconds, 10);
  EXPECT_TRUE(mr.export_destinations.empty());
  boost::json::object json = RuleJson(ct);
  EXPECT_EQ(json.at("when").at("Modality").as_string(), "CT");
  EXPECT_EQ(json.at("quiet_seconds").as_int64(), 2);
  EXPECT_EQ(json.at("export").as_array().size(), 1u);
}

// Each mistake is refused with a one-line reason naming the rule.
TEST(RuleFileTest, RefusesEveryMistakeWithItsReason) {
  struct Case {
    std::string text, says;
  };
  auto rule = [](std::string body) { return R"({"rules":[)" + body + "]}"; };
  const std::string when = R"("when":{"Modality":"CT"})";
  const std::vector<Case> cases = {
      {"[]", "JSON object"},
      {"{", "not valid JSON"},
      {R"({"rules":[],"extra":1})", "unknown key \"extra\""},
      {rule(R"({"name":"Bad_Name",)" + when + R"(,"algorithm":"denoise"})"), "name must be"},
      {rule(R"({"name":")" + std::string(33, 'a') + R"(",)" + when + R"(,"algorithm":"denoise"})"),
       "name must be"},
      {rule(R"({"name":"a","algorithm":"denoise"})"), "\"when\" must be"},
      {rule(R"({"name":"a","when":{},"algorithm":"denoise"})"), "\"when\" must be"},
      {rule(R"({"name":"a","when":{"PatientName":"X"},"algorithm":"denoise"})"),
       "cannot match on \"PatientName\""},
      {rule(R"({"name":"a","when":{"Modality":3},"algorithm":"denoise"})"), "Modality must be"},
      {rule(R"({"name":"a",)" + when + R"(,"algorithm":"nope"})"), "unknown algorithm"},
      {rule(R"({"name":"a",)" + when + R"(,"algorithm":"denoise","scope":"image"})"),
       "scope must be series or study"},
      {rule(R"({"name":"a",)" + when + R"(,"algorithm":"threshold","params":{"preset":"x"}})"),
       "preset"},
      {rule(R"({"name":"a",)" + when + R"(,"algorithm":"denoise","params":{"nope":1}})"), "nope"},
      {rule(R"({"name":"a",)" + when + R"(,"algorithm":"denoise","quiet_seconds":0})"),
       "quiet_seconds"},
      {rule(R"({"name":"a",)" + when + R"(,"algorithm":"denoise","export":"x"})"), "export"},
      {rule(R"({"name":"a",)" + when + R"(,"algorithm":"denoise","colour":1})"),
       "unknown key \"colour\""},
      {rule(R"({"name":"a",)" + when + R"(,"algorithm":"denoise"},{"name":"a",)" + when +
            R"(,"algorithm":"denoise"})"),
       "rule 2 (a): the name is used twice"},
  };
  for (const Case& c : cases) {
    auto rules = ParseRules(c.text, Registry());
    ASSERT_FALSE(rules.ok()) << c.text;
    EXPECT_EQ(rules.status().code(), core::StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(rules.status().message().find(c.says), std::string::npos)
        << c.text << " -> " << rules.status().message();
    EXPECT_EQ(rules.status().message().find('\n'), std::string::npos);
  }
  EXPECT_NE(LoadRulesFile("/no/such/rules.json", Registry())
                .status()
                .message()
                .find("/no/such/rules.json"),
            std::string::npos);
}

TEST(RuleFileTest, WildcardsMatchWholeValuesCaseInsensitively) {
  EXPECT_TRUE(WildcardMatch("CT", "ct"));
  EXPECT_FALSE(WildcardMatch("CT", "CTA"));
  EXPECT_FALSE(WildcardMatch("CT", ""));
  EXPECT_TRUE(WildcardMatch("*", ""));
  EXPECT_TRUE(WildcardMatch("C?", "CR"));
  EXPECT_FALSE(WildcardMatch("C?", "C"));
  EXPECT_TRUE(WildcardMatch("*chest*", "Chest 5.0 mm Soft Tissue"));
  EXPECT_TRUE(WildcardMatch("*5.0*tissue", "Chest 5.0 mm Soft Tissue"));
  EXPECT_FALSE(WildcardMatch("*5.0*bone", "Chest 5.0 mm Soft Tissue"));
  EXPECT_TRUE(WildcardMatch("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(WildcardMatch(std::string(30, '*') + "b", std::string(5000, 'a')));
}

TEST(RuleFileTest, EveryConditionMustHold) {
  auto rules = ParseRules(kGood, Registry());
  ASSERT_TRUE(rules.ok());
  pacs::SeriesActivity s;
  s.modality = "CT";
  s.body_part_examined = "CHEST";
  EXPECT_TRUE(Matches((*rules)[0], s));
  s.body_part_examined = "HEAD";
  EXPECT_FALSE(Matches((*rules)[0], s));
  s.modality = "MR";
  s.series_description = "Ax T1 post";
  EXPECT_TRUE(Matches((*rules)[1], s));
  s.series_description = "Ax T2";
  EXPECT_FALSE(Matches((*rules)[1], s));
}

}  // namespace
}  // namespace imgpipe::rules
