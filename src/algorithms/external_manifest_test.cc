// External algorithm manifests: a good one, each class of error, and loading a folder.
#include <gtest/gtest.h>

#include "algorithms/algorithms.h"
#include "algorithms/external_test_util.h"

namespace imgpipe::algorithms {
namespace {

using core::StatusCode;
using testing::ScratchDir;

constexpr std::string_view kGood = R"({
  "name": "lung_nodules",
  "description": "Finds nodules.",
  "command": ["bin/run.sh", "--fast"],
  "params": {
    "sensitivity": {"type": "number", "description": "0..1", "default": 0.5,
                    "minimum": 0, "maximum": 1},
    "max_count": {"type": "integer", "default": 10, "minimum": 1},
    "verbose": {"type": "boolean", "default": false},
    "model": {"type": "string", "enum": ["small", "large"], "default": "small"},
    "seed": {"type": "integer"}
  },
  "modalities": ["CT"],
  "scopes": ["image", "series"],
  "time_limit_seconds": 2.5,
  "memory_limit_mb": 100,
  "cpu_limit_seconds": 7
})";

TEST(ExternalManifestTest, ParsesAGoodManifest) {
  ScratchDir dir;
  const std::string program = dir.Script("bin/run.sh", "exit 0");
  core::Result<ExternalSpec> spec = ParseExternalManifest(kGood, dir.path());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->info.name, "lung_nodules");
  EXPECT_EQ(spec->command, (std::vector<std::string>{program, "--fast"}));
  EXPECT_EQ(spec->time_limit, std::chrono::milliseconds(2500));
  EXPECT_EQ(spec->memory_limit_bytes, 100ull << 20);
  EXPECT_EQ(spec->cpu_limit_seconds, 7);
  EXPECT_EQ(spec->info.modalities, std::vector<std::string>{"CT"});
  EXPECT_EQ(spec->info.scopes, (std::vector<std::string>{"image", "series"}));
  ASSERT_EQ(spec->info.params.size(), 5u);
  EXPECT_EQ(spec->info.params[0].name, "sensitivity");  // declaration order kept
  EXPECT_EQ(spec->info.params[1].type, ParamType::kInteger);
  EXPECT_EQ(std::get<int64_t>(*spec->info.params[1].default_value), 10);
  EXPECT_EQ(std::get<std::string>(*spec->info.params[3].default_value), "small");
  EXPECT_FALSE(spec->info.params[4].default_value.has_value());

  core::Result<Params> params =
      ValidateParams(spec->info, boost::json::parse(R"({"model":"large","seed":3})"));
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_EQ(params->GetNumber("sensitivity"), 0.5);
  EXPECT_EQ(params->GetString("model"), "large");
  EXPECT_EQ(params->GetInt("seed"), 3);
  EXPECT_FALSE(ValidateParams(spec->info, boost::json::parse(R"({"model":"huge"})")).ok());

  // Defaults: every scope, the ExternalSpec limits.
  core::Result<ExternalSpec> minimal = ParseExternalManifest(
      R"({"name":"m","description":"d","command":["/bin/true"]})", dir.path());
  ASSERT_TRUE(minimal.ok()) << minimal.status().ToString();
  EXPECT_EQ(minimal->info.scopes, (std::vector<std::string>{"image", "series", "study"}));
  EXPECT_EQ(minimal->time_limit, std::chrono::milliseconds(60'000));
  EXPECT_TRUE(minimal->info.params.empty());
}

TEST(ExternalManifestTest, EachErrorNamesItsField) {
  ScratchDir dir;
  dir.Write("not_exec", "#!/bin/sh\n", false);
  const std::string head = R"("name":"a","description":"d",)";
  const std::string cmd = R"("command":["/bin/true"])";
  struct Case {
    std::string json, expected;
  };
  const Case cases[] = {
      {"{", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {"{" + head + cmd + R"(,"timeout":3})", "unknown key 'timeout'"},
      {R"({"name":"Bad-Name","description":"d",)" + cmd + "}", "'name': must match"},
      {R"({"description":"d",)" + cmd + "}", "'name': is required"},
      {R"({"name":"a",)" + cmd + "}", "'description': is required"},
      {"{" + head + R"("command":[]})", "'command': must name the program"},
      {"{" + head.substr(0, head.size() - 1) + "}", "'command': is required"},
      {"{" + head + R"("command":"/bin/true"})", "'command': must be an array"},
      {"{" + head + R"("command":["missing"]})", "does not exist"},
      {"{" + head + R"("command":["not_exec"]})", "is not executable"},
      {"{" + head + R"("command":["/"]})", "is not a regular file"},
      {"{" + head + cmd + R"(,"params":[]})", "'params': must be an object"},
      {"{" + head + cmd + R"(,"params":{"Bad":{"type":"number"}}})", "parameter name 'Bad'"},
      {"{" + head + cmd + R"(,"params":{"x":{"type":"float"}}})",
       "'params.x.type': must be one of"},
      {"{" + head + cmd + R"(,"params":{"x":{"description":"d"}}})",
       "'params.x.type': is required"},
      {"{" + head + cmd + R"(,"params":{"x":{"type":"number","defualt":1}}})",
       "params.x: unknown key 'defualt'"},
      {"{" + head + cmd + R"(,"params":{"x":{"type":"string"}}})", "'params.x.enum': string"},
      {"{" + head + cmd + R"(,"params":{"x":{"type":"number","enum":["a"]}}})",
       "'params.x.enum': only string"},
      {"{" + head + cmd + R"(,"params":{"x":{"type":"boolean","minimum":0}}})",
       "'params.x.minimum': only integer and number"},
      {"{" + head + cmd + R"(,"params":{"x":{"type":"number","minimum":2,"maximum":1}}})",
       "minimum must not exceed maximum"},
      {"{" + head + cmd + R"(,"params":{"x":{"type":"integer","maximum":5,"default":9}}})",
       "'params.x.default': x must be an integer <= 5"},
      {"{" + head + cmd + R"(,"params":{"x":{"type":"integer","default":1.5}}})",
       "'params.x.default'"},
      {"{" + head + cmd + R"(,"params":{"x":{"type":"string","enum":["a"],"default":"b"}}})",
       "'params.x.default': x must be one of a"},
      {"{" + head + cmd + R"(,"scopes":["volume"]})", "'scopes': 'volume' is not one of"},
      {"{" + head + cmd + R"(,"scopes":[]})", "'scopes': must not be empty"},
      {"{" + head + cmd + R"(,"modalities":"CT"})", "'modalities': must be an array"},
      {"{" + head + cmd + R"(,"time_limit_seconds":0})", "'time_limit_seconds': must be a number"},
      {"{" + head + cmd + R"(,"memory_limit_mb":1.5})", "'memory_limit_mb': must be an integer"},
      {"{" + head + cmd + R"(,"cpu_limit_seconds":"5"})", "'cpu_limit_seconds'"},
  };
  for (const Case& c : cases) {
    core::Result<ExternalSpec> spec = ParseExternalManifest(c.json, dir.path());
    ASSERT_FALSE(spec.ok()) << c.json;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(spec.status().message().find(c.expected), std::string::npos)
        << c.json << " -> " << spec.status().message();
  }
}

TEST(ExternalManifestTest, MakeExternalAlgorithmChecksTheSpec) {
  ExternalSpec spec;
  spec.info.name = "ok";
  spec.info.scopes = {"image"};
  spec.command = {"relative/path"};
  EXPECT_EQ(MakeExternalAlgorithm(spec).status().code(), StatusCode::kInvalidArgument);
  spec.command = {"/bin/true"};
  EXPECT_TRUE(MakeExternalAlgorithm(spec).ok());
  spec.info.name = "";
  EXPECT_FALSE(MakeExternalAlgorithm(spec).ok());
}

TEST(ExternalManifestTest, LoadsAFolderInNameOrderAndAllOrNothing) {
  ScratchDir dir;
  dir.Write("b.json", R"({"name":"bee","description":"d","command":["/bin/true"]})");
  dir.Script("a/run", "exit 0");
  dir.Write("a/algorithm.json", R"({"name":"ant","description":"d","command":["run"]})");
  dir.Write("notes.txt", "ignored: not a manifest");
  std::filesystem::create_directories(dir.path() + "/assets");  // no algorithm.json: ignored
  std::unique_ptr<Registry> registry = Registry::WithBuiltIns();
  const size_t built_ins = registry->List().size();
  ASSERT_TRUE(LoadExternalAlgorithms(dir.path(), *registry).ok());
  std::vector<const Algorithm*> all = registry->List();
  ASSERT_EQ(all.size(), built_ins + 2);
  EXPECT_EQ(all[built_ins]->info().name, "ant");
  EXPECT_EQ(all[built_ins + 1]->info().name, "bee");

  // A typo in one manifest fails the whole load, naming the file, and adds nothing.
  dir.Write("c.json", R"({"name":"cat","descripton":"d","command":["/bin/true"]})");
  std::unique_ptr<Registry> fresh = Registry::WithBuiltIns();
  core::Status st = LoadExternalAlgorithms(dir.path(), *fresh);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find(dir.path() + "/c.json: manifest: unknown key 'descripton'"),
            std::string::npos)
      << st.message();
  EXPECT_EQ(fresh->List().size(), built_ins);

  // A name already taken (a built-in) is refused too.
  ScratchDir clash;
  clash.Write("x.json", R"({"name":"clahe","description":"d","command":["/bin/true"]})");
  st = LoadExternalAlgorithms(clash.path(), *fresh);
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(st.message().find("x.json: algorithm clahe already registered"), std::string::npos);

  EXPECT_EQ(LoadExternalAlgorithms(dir.path() + "/nope", *fresh).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace imgpipe::algorithms
