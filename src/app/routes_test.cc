// GET /openapi.json describes exactly what `imgpipe serve` serves: every route RegisterServeRoutes
// registers is documented, and every documented operation is registered.
#include "app/routes.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "app/access.h"
#include "app/openapi.h"
#include "core/temp_dir.h"
#include "dicom/dicom.h"

namespace imgpipe::app {
namespace {

namespace json = boost::json;
using Operation = std::pair<std::string, std::string>;  // (lowercase method, OpenAPI path)

// "/api/results/{job_id}/{name...}" -> "/api/results/{job_id}/{name}".
std::string OpenApiPath(std::string pattern) {
  for (size_t at = pattern.find("...}"); at != std::string::npos; at = pattern.find("...}")) {
    pattern.erase(at, 3);
  }
  return pattern;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

json::object Document() { return json::parse(OpenApiDocument()).as_object(); }

std::set<Operation> Documented() {
  std::set<Operation> out;
  json::object doc = Document();
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) out.emplace(method, path);
  }
  return out;
}

class ServeRoutesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dicom::Initialize(); }

  std::set<Operation> Served(const std::string& roles_text) {
    Config config;
    config.data_dir = dir_.path() + "/" + roles_text;
    auto stores = OpenStores(config);
    EXPECT_TRUE(stores.ok()) << stores.status().ToString();
    auto roles = ParseRoles(roles_text);
    EXPECT_TRUE(roles.ok()) << roles.status().ToString();
    if (!stores.ok() || !roles.ok()) return {};
    http::Router router;
    ListenBase listen_base;
    auto collectors = RegisterServeRoutes(router, *roles, *stores, nullptr, listen_base, config);
    std::set<Operation> out;
    for (const auto& [method, pattern] : router.Routes()) {
      EXPECT_TRUE(out.emplace(Lower(method), OpenApiPath(pattern)).second)
          << "registered twice: " << method << " " << pattern;
    }
    return out;
  }

  core::TempDir dir_{"routes-test"};
};

TEST_F(ServeRoutesTest, EveryServedRouteIsDocumentedAndEveryDocumentedOneServed) {
  std::set<Operation> served = Served("api,worker,push");
  std::set<Operation> documented = Documented();
  for (const Operation& op : served) {
    EXPECT_TRUE(documented.count(op))
        << "served, not in openapi.json: " << op.first << " " << op.second;
  }
  for (const Operation& op : documented) {
    EXPECT_TRUE(served.count(op)) << "in openapi.json, not served: " << op.first << " "
                                  << op.second;
  }
  EXPECT_TRUE(served.count({"get", "/openapi.json"}));
  EXPECT_TRUE(served.count({"get", "/ws"}));
  EXPECT_GE(served.size(), 35u);
}

TEST_F(ServeRoutesTest, EachRoleServesADocumentedSubset) {
  std::set<Operation> documented = Documented();
  for (const std::string roles : {"api", "worker", "push"}) {
    std::set<Operation> served = Served(roles);
    EXPECT_TRUE(served.count({"get", "/healthz"})) << roles;
    EXPECT_TRUE(served.count({"get", "/openapi.json"})) << roles;
    for (const Operation& op : served) EXPECT_TRUE(documented.count(op)) << op.second;
  }
  EXPECT_FALSE(Served("worker").count({"get", "/ws"}));
  EXPECT_TRUE(Served("push").count({"get", "/ws"}));
}

// Every route has its access level in app/access.cc's table (an unlisted one would be
// admin-only), and the API's description states the same level.
TEST_F(ServeRoutesTest, EveryRouteHasItsAccessLevelAndTheDocumentSaysIt) {
  Config config;
  config.data_dir = dir_.path() + "/access";
  auto stores = OpenStores(config);
  ASSERT_TRUE(stores.ok()) << stores.status().ToString();
  http::Router router;
  ListenBase listen_base;
  auto collectors = RegisterServeRoutes(router, *ParseRoles("api,worker,push"), *stores, nullptr,
                                        listen_base, config);
  json::object doc = Document();
  std::set<std::string> levels;
  for (const auto& [method, pattern] : router.Routes()) {
    std::optional<auth::Access> access = ListedAccess(method, pattern);
    ASSERT_TRUE(access.has_value()) << "no access level for " << method << " " << pattern;
    const json::value& op = doc.at("paths").at(OpenApiPath(pattern)).at(Lower(method));
    EXPECT_EQ(op.at("x-imgpipe-access").as_string(), auth::AccessName(*access))
        << method << " " << pattern;
    levels.insert(auth::AccessName(*access));
  }
  EXPECT_EQ(levels, (std::set<std::string>{"public", "client", "user", "admin"}));
  for (std::string_view admin :
       {"/pacs/images", "/dicomweb/studies", "/api/queues/{name}/redrive"}) {
    EXPECT_EQ(ListedAccess("POST", admin), auth::Access::kAdmin) << admin;
  }
  EXPECT_EQ(ListedAccess("GET", "/not/a/route"), std::nullopt);
}

// Path parameters are declared exactly as the path names them, every operation has responses,
// and every $ref points at a schema the document defines.
TEST(OpenApiDocumentTest, IsAWellFormedOpenApi3Document) {
  json::object doc = Document();
  EXPECT_TRUE(doc.at("openapi").as_string().starts_with("3.0"));
  EXPECT_FALSE(doc.at("info").at("title").as_string().empty());
  const json::object& schemas = doc.at("components").at("schemas").as_object();
  for (const char* name : {"Error", "Provision", "ProcessRequest", "ProcessAccepted", "Job"}) {
    EXPECT_TRUE(schemas.contains(name)) << name;
  }
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    std::set<std::string> in_path;
    std::string p(path);
    for (size_t open = p.find('{'); open != std::string::npos; open = p.find('{', open + 1)) {
      in_path.insert(p.substr(open + 1, p.find('}', open) - open - 1));
    }
    for (const auto& [method, op_value] : item.as_object()) {
      const json::object& op = op_value.as_object();
      EXPECT_TRUE(op.contains("responses") && !op.at("responses").as_object().empty())
          << method << " " << path;
      std::set<std::string> declared;
      if (const json::value* params = op.if_contains("parameters")) {
        for (const json::value& param : params->as_array()) {
          if (param.at("in") == "path") declared.emplace(param.at("name").as_string());
        }
      }
      EXPECT_EQ(declared, in_path) << method << " " << path;
    }
  }
  std::string text(OpenApiDocument());
  const std::string prefix = "\"#/components/schemas/";
  for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    size_t start = at + prefix.size();
    std::string name = text.substr(start, text.find('"', start) - start);
    EXPECT_TRUE(schemas.contains(name)) << "dangling $ref " << name;
  }
}

TEST(OpenApiDocumentTest, ServedAsJson) {
  http::Router router;
  AddOpenApiRoute(router);
  http::Request request;
  request.method = "GET";
  request.target = request.path = "/openapi.json";
  http::Response response = router.Dispatch(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(response.body, OpenApiDocument());
}

}  // namespace
}  // namespace imgpipe::app
