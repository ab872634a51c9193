// Parameter validation, the schema JSON, and the registry.
#include <gtest/gtest.h>

#include <regex>

#include "algorithms/algorithms.h"
#include "algorithms/test_util.h"

namespace imgpipe::algorithms {
namespace {

using testing::AnyDicomFile;
using testing::Get;
using testing::MakeImage;

core::Status Check(std::string_view algorithm, std::string_view json) {
  return ValidateParams(Get(algorithm).info(), boost::json::parse(json)).status();
}

TEST(ParamsTest, MissingParamsTakeDefaults) {
  for (const char* json : {"{}", "null", R"({"sigma": null})"}) {
    core::Result<Params> p = ValidateParams(Get("denoise").info(), boost::json::parse(json));
    ASSERT_TRUE(p.ok()) << json << ": " << p.status().ToString();
    EXPECT_EQ(p->GetString("method"), "gaussian");
    EXPECT_DOUBLE_EQ(p->GetNumber("sigma"), 1.0);
    EXPECT_EQ(p->GetInt("kernel_size"), 3);
  }
}

TEST(ParamsTest, GivenValuesAreKeptAndTyped) {
  Params p = testing::ParamsFor("denoise", R"({"method":"median","kernel_size":5.0,"sigma":2})");
  EXPECT_EQ(p.GetString("method"), "median");
  EXPECT_EQ(p.GetInt("kernel_size"), 5);      // 5.0 is an integer
  EXPECT_DOUBLE_EQ(p.GetNumber("sigma"), 2);  // an integer is a number
  EXPECT_DOUBLE_EQ(p.GetNumber("kernel_size"), 5);
  EXPECT_EQ(p.ToJson().at("kernel_size").as_int64(), 5);
}

TEST(ParamsTest, OptionalParamsWithoutDefaultStayAbsent) {
  Params p = testing::ParamsFor("window_level", "{}");
  EXPECT_FALSE(p.Has("center"));
  EXPECT_FALSE(p.Has("width"));
  p = testing::ParamsFor("window_level", R"({"center": 40, "width": 400})");
  EXPECT_DOUBLE_EQ(p.GetNumber("center"), 40);
}

TEST(ParamsTest, ErrorsNameTheParameterAndTheRule) {
  struct Case {
    const char* algorithm;
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {"denoise", "[1, 2]", "params must be a JSON object"},
      {"denoise", "3", "params must be a JSON object"},
      {"denoise", R"({"sigmaa": 1})",
       "unknown parameter 'sigmaa' (denoise takes: method, sigma, kernel_size, sigma_space, "
       "sigma_color)"},
      {"denoise", R"({"sigma": "big"})", "sigma must be a number within 0.1..20"},
      {"denoise", R"({"sigma": 50})", "sigma must be a number within 0.1..20"},
      {"denoise", R"({"sigma": 0.05})", "sigma must be a number within 0.1..20"},
      {"denoise", R"({"kernel_size": 3.5})", "kernel_size must be an integer within 3..11"},
      {"denoise", R"({"kernel_size": 13})", "kernel_size must be an integer within 3..11"},
      {"denoise", R"({"kernel_size": true})", "kernel_size must be an integer within 3..11"},
      {"denoise", R"({"method": "fancy"})", "method must be one of gaussian, median, bilateral"},
      {"denoise", R"({"method": 1})", "method must be one of gaussian, median, bilateral"},
      {"window_level", R"({"width": 0.5})", "width must be a number within 1..2000000"},
  };
  for (const Case& c : cases) {
    core::Status st = Check(c.algorithm, c.json);
    EXPECT_EQ(st.code(), core::StatusCode::kInvalidArgument) << c.json;
    EXPECT_EQ(st.message(), c.message) << c.json;
  }
}

TEST(ParamsTest, BooleanAndOneSidedRanges) {
  AlgorithmInfo info;
  info.name = "test";
  info.params = {{"flag", ParamType::kBoolean, "a flag", false, {}, {}, {}},
                 {"count", ParamType::kInteger, "at least one", std::nullopt, 1.0, {}, {}},
                 {"level", ParamType::kNumber, "at most ten", std::nullopt, {}, 10.0, {}}};
  auto check = [&](const char* json) {
    return ValidateParams(info, boost::json::parse(json)).status().message();
  };
  EXPECT_EQ(check(R"({"flag": 1})"), "flag must be a boolean");
  EXPECT_EQ(check(R"({"count": 0})"), "count must be an integer >= 1");
  EXPECT_EQ(check(R"({"level": 11})"), "level must be a number <= 10");
  core::Result<Params> p = ValidateParams(info, boost::json::parse(R"({"flag": true})"));
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->GetBool("flag"));
  EXPECT_FALSE(p->Has("count"));
  EXPECT_EQ(ValidateParams(info, boost::json::parse(R"({"x": 1})")).status().message(),
            "unknown parameter 'x' (test takes: flag, count, level)");
}

TEST(SchemaTest, JsonSchemaShape) {
  boost::json::object s = SchemaJson(Get("denoise").info());
  EXPECT_EQ(s.at("type"), "object");
  EXPECT_EQ(s.at("additionalProperties"), false);
  const boost::json::object& props = s.at("properties").as_object();
  EXPECT_EQ(props.size(), 5u);
  const boost::json::object& sigma = props.at("sigma").as_object();
  EXPECT_EQ(sigma.at("type"), "number");
  EXPECT_DOUBLE_EQ(sigma.at("minimum").as_double(), 0.1);
  EXPECT_DOUBLE_EQ(sigma.at("maximum").as_double(), 20);
  EXPECT_DOUBLE_EQ(sigma.at("default").as_double(), 1.0);
  EXPECT_FALSE(sigma.at("description").as_string().empty());
  EXPECT_FALSE(sigma.contains("enum"));
  const boost::json::object& method = props.at("method").as_object();
  EXPECT_EQ(method.at("type"), "string");
  EXPECT_EQ(method.at("default"), "gaussian");
  EXPECT_EQ(method.at("enum"), boost::json::parse(R"(["gaussian","median","bilateral"])"));
  EXPECT_EQ(props.at("kernel_size").at("type"), "integer");
  EXPECT_EQ(props.at("kernel_size").at("default"), 3);
  // Optional parameters have no default.
  const boost::json::object wl = SchemaJson(Get("window_level").info());
  EXPECT_FALSE(wl.at("properties").at("center").as_object().contains("default"));
}

TEST(SchemaTest, InfoJsonOfAnAlias) {
  boost::json::object o = InfoJson(Get("processing_1").info());
  EXPECT_EQ(o.at("name"), "processing_1");
  EXPECT_EQ(o.at("alias_of"), "clahe");
  EXPECT_TRUE(o.at("description").as_string().starts_with("Alias of clahe."));
  EXPECT_EQ(o.at("params"), boost::json::value(SchemaJson(Get("clahe").info())));
  EXPECT_EQ(o.at("scopes"), boost::json::parse(R"(["image","series","study"])"));
  EXPECT_FALSE(InfoJson(Get("clahe").info()).contains("alias_of"));
}

TEST(RegistryTest, BuiltInsAndAlias) {
  std::vector<std::string> names;
  for (const Algorithm* a : Registry::BuiltIn().List()) names.push_back(a->info().name);
  EXPECT_EQ(names, (std::vector<std::string>{"denoise", "clahe", "canny", "window_level",
                                             "threshold", "resize", "deidentify", "processing_1"}));
  const std::regex valid("[a-z0-9_]+");
  for (const std::string& n : names) EXPECT_TRUE(std::regex_match(n, valid)) << n;
  EXPECT_EQ(Registry::BuiltIn().Find("nope"), nullptr);
  const Algorithm* alias = Registry::BuiltIn().Find("processing_1");
  ASSERT_NE(alias, nullptr);
  EXPECT_EQ(alias->info().alias_of, "clahe");
}

TEST(RegistryTest, AddRejectsDuplicatesAndUnknownTargets) {
  Registry r;
  EXPECT_EQ(r.AddAlias("x", "clahe").code(), core::StatusCode::kNotFound);
  EXPECT_TRUE(r.List().empty());
}

// Every built-in runs with its defaults on every grey pixel type.
TEST(RegistryTest, EveryBuiltInRunsWithDefaults) {
  for (PixelType type : {PixelType::kU8, PixelType::kU16, PixelType::kS16, PixelType::kF32}) {
    Image image = MakeImage(40, 48, type, [](int r, int c) { return (r * 7 + c * 3) % 100; });
    for (const Algorithm* a : Registry::BuiltIn().List()) {
      core::Result<Params> p = ValidateParams(a->info(), boost::json::object());
      ASSERT_TRUE(p.ok()) << a->info().name;
      RunContext ctx;
      ctx.source_file = AnyDicomFile();
      core::Result<Output> out = a->Run(image, *p, ctx);
      ASSERT_TRUE(out.ok()) << a->info().name << " on " << PixelTypeName(type) << ": "
                            << out.status().ToString();
      EXPECT_FALSE(out->image.empty());
      EXPECT_EQ(out->image.pixels.size(),
                out->image.PixelCount() * out->image.samples * BytesPerSample(out->image.type));
    }
  }
}

}  // namespace
}  // namespace imgpipe::algorithms
