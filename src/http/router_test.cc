#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "http/http.h"

namespace imgpipe::http {
namespace {

Request Make(std::string method, std::string target) {
  Request request;
  request.method = std::move(method);
  request.target = std::move(target);
  return request;
}

Handler Reply(std::string text) {
  return [text](Request& request) {
    std::string body = text;
    for (const auto& [name, value] : request.path_params) body += " " + name + "=" + value;
    return Response::Bytes(200, "text/plain", body);
  };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("GET", "/pacs/studies/{study_id}", Reply("study"));
    router_.Add("GET", "/pacs/studies/recent", Reply("recent"));
    router_.Add("GET", "/pacs/studies/{study_id}/series/{series_id}", Reply("series"));
    router_.Add("DELETE", "/pacs/studies/{study_id}", Reply("delete"));
    router_.Add("GET", "/static/{path...}", Reply("static"));
    router_.Add("GET", "/static/app.js", Reply("appjs"));
    router_.Add("GET", "/", Reply("root"));
    router_.Add("POST", "/throw", [](Request&) -> Response { throw std::runtime_error("boom"); });
  }
  Response Dispatch(std::string method, std::string target) {
    Request request = Make(std::move(method), std::move(target));
    return router_.Dispatch(request);
  }
  Router router_;
};

TEST_F(RouterTest, ParamsAreExtracted) {
  Response r = Dispatch("GET", "/pacs/studies/1.2.3/series/4.5");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "series study_id=1.2.3 series_id=4.5");
  EXPECT_EQ(Dispatch("GET", "/").body, "root");
}

TEST_F(RouterTest, LiteralBeatsParamRegardlessOfOrder) {
  EXPECT_EQ(Dispatch("GET", "/pacs/studies/recent").body, "recent");
  EXPECT_EQ(Dispatch("GET", "/pacs/studies/other").body, "study study_id=other");
  EXPECT_EQ(Dispatch("GET", "/static/app.js").body, "appjs");
}

TEST_F(RouterTest, RestParamTakesTheRestOfThePath) {
  EXPECT_EQ(Dispatch("GET", "/static/css/site.css").body, "static path=css/site.css");
  EXPECT_EQ(Dispatch("GET", "/static/a%20b/c").body, "static path=a b/c");
  // An encoded slash would smuggle a segment into the rest value: not matched.
  EXPECT_EQ(Dispatch("GET", "/static/..%2F..%2Fetc/passwd").status, 404);
}

TEST_F(RouterTest, PathParamsArePercentDecodedPerSegment) {
  Response r = Dispatch("GET", "/pacs/studies/a%2Fb%20c");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "study study_id=a/b c");
  // "%2F" does not create a segment, so this does not reach the series route.
  EXPECT_EQ(Dispatch("GET", "/pacs/studies/a%2Fseries%2Fb").body, "study study_id=a/series/b");
  EXPECT_EQ(Dispatch("GET", "/pacs/studies/%zz").status, 400);
}

TEST_F(RouterTest, QueryIsIgnoredForMatching) {
  EXPECT_EQ(Dispatch("GET", "/pacs/studies/recent?limit=3").body, "recent");
}

TEST_F(RouterTest, FallsBackToPathWhenNoTarget) {
  Request request;
  request.method = "GET";
  request.path = "/pacs/studies/x";
  EXPECT_EQ(router_.Dispatch(request).body, "study study_id=x");
  EXPECT_EQ(request.PathParam("study_id"), "x");
  EXPECT_EQ(request.PathParam("nope"), "");
}

TEST_F(RouterTest, NoMatchIs404Json) {
  Response r = Dispatch("GET", "/nothing/here");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Header("content-type").value_or(""), "application/json");
  EXPECT_NE(r.body.find(R"("code":"not_found")"), std::string::npos) << r.body;
  // Trailing slash is a different path; empty param segments do not match.
  EXPECT_EQ(Dispatch("GET", "/pacs/studies/").status, 404);
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  Response r = Dispatch("PUT", "/pacs/studies/abc");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow").value_or(""), "DELETE, GET, HEAD");
  EXPECT_NE(r.body.find("method_not_allowed"), std::string::npos);
  EXPECT_EQ(Dispatch("GET", "/throw").Header("allow").value_or(""), "POST");
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  Response r = Dispatch("HEAD", "/pacs/studies/recent");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "recent");  // the server drops the body, the router does not
  router_.Add("HEAD", "/pacs/studies/recent", Reply("head"));
  EXPECT_EQ(Dispatch("HEAD", "/pacs/studies/recent").body, "head");
  EXPECT_EQ(Dispatch("GET", "/pacs/studies/recent").body, "recent");
}

TEST_F(RouterTest, HandlerExceptionBecomes500) {
  Response r = Dispatch("POST", "/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find(R"("code":"internal")"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("boom"), std::string::npos) << "exception text must not leak";
}

TEST(ErrorMapTest, MapsEveryCode) {
  using core::StatusCode;
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kConflict), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPayloadTooLarge), 413);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnsupportedMediaType), 415);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnprocessable), 422);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
}

TEST(ErrorMapTest, ErrorResponseIsEscapedJson) {
  Response r = ErrorResponse(core::Status::NotFound("no study \"x\"\n"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Header("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(r.body, R"({"error":{"code":"not_found","message":"no study \"x\"\n"}})");
}

TEST(RouterFallbackTest, OnlyWhereTheAnswerWouldBe404) {
  Router router;
  router.Add("GET", "/api/things", Reply("things"));
  router.Add("POST", "/api/submit", Reply("submit"));
  router.AddWebSocket("/ws", [](Request&) { return UpgradeDecision{}; });
  router.SetFallback([](Request& request) -> Response {
    if (request.path == "/boom") throw std::runtime_error("boom");
    return Response::Bytes(200, "text/plain", "fallback " + request.method + " " + request.path);
  });
  auto dispatch = [&router](std::string method, std::string target) {
    Request request = Make(std::move(method), target);
    request.path = target;
    return router.Dispatch(request);
  };
  EXPECT_EQ(dispatch("GET", "/api/things").body, "things");  // routes win
  EXPECT_EQ(dispatch("GET", "/elsewhere").body, "fallback GET /elsewhere");
  EXPECT_EQ(dispatch("HEAD", "/elsewhere").body, "fallback HEAD /elsewhere");
  EXPECT_EQ(dispatch("POST", "/elsewhere").status, 404);  // only GET and HEAD
  Response not_allowed = dispatch("GET", "/api/submit");
  EXPECT_EQ(not_allowed.status, 405);  // a path some route takes is never the fallback's
  EXPECT_EQ(not_allowed.Header("Allow").value_or(""), "POST");
  EXPECT_EQ(dispatch("GET", "/ws").status, 426);
  EXPECT_EQ(dispatch("GET", "/boom").status, 500);  // exceptions handled as for routes
}

TEST(RequestTest, PercentDecode) {
  EXPECT_EQ(PercentDecode("a%20b+c", false).value_or("?"), "a b+c");
  EXPECT_EQ(PercentDecode("a%20b+c", true).value_or("?"), "a b c");
  EXPECT_EQ(PercentDecode("%2f%2F", false).value_or("?"), "//");
  EXPECT_FALSE(PercentDecode("%", false));
  EXPECT_FALSE(PercentDecode("ab%4", false));
  EXPECT_FALSE(PercentDecode("%g0", false));
}

TEST(RequestTest, Accessors) {
  Request request;
  request.query = {{"a", "1"}, {"a", "2"}};
  request.headers = {{"x-thing", "v"}};
  EXPECT_EQ(request.Query("a").value_or(""), "1");
  EXPECT_FALSE(request.Query("b"));
  EXPECT_EQ(request.Header("X-Thing").value_or(""), "v");

  Response response = Response::Json(201, "{}");
  response.SetHeader("content-type", "text/plain");
  EXPECT_EQ(response.headers.size(), 1u);
  EXPECT_EQ(response.Header("Content-Type").value_or(""), "text/plain");
  EXPECT_EQ(Response::NoContent().status, 204);
}

TEST(RequestTest, ClientAddressTrustsOnlyConfiguredProxies) {
  Request r;
  r.remote = "10.1.2.3:5555";
  r.headers.emplace_back("x-forwarded-for", "6.6.6.6");
  const std::vector<std::string> trusted = {"127.0.0.1", "::1"};
  EXPECT_EQ(ClientAddress(r, trusted), "10.1.2.3");  // not a proxy: its header is ignored
  r.remote = "127.0.0.1:40000";
  EXPECT_EQ(ClientAddress(r, trusted), "6.6.6.6");
  r.headers[0].second = "1.1.1.1, 2.2.2.2 ,  3.3.3.3 ";  // the proxy appends the peer it saw
  EXPECT_EQ(ClientAddress(r, trusted), "3.3.3.3");
  r.remote = "[::1]:40000";
  EXPECT_EQ(ClientAddress(r, trusted), "3.3.3.3");
  EXPECT_EQ(ClientAddress(r, {}), "::1");
  r.headers.clear();
  EXPECT_EQ(ClientAddress(r, trusted), "::1");  // a trusted peer without the header is itself
}

TEST(ErrorMapTest, TooManyRequestsRoundsRetryAfterUp) {
  Response r = TooManyRequests("slow down", std::chrono::milliseconds(1001));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("Retry-After"), "2");
  EXPECT_NE(r.body.find(R"("code":"resource_exhausted","message":"slow down")"), std::string::npos);
  EXPECT_EQ(TooManyRequests("x", std::chrono::milliseconds(3)).Header("Retry-After"), "1");
}

TEST(RouterRoutesTest, ListsRoutesAndWebSocketsAsAdded) {
  Router router;
  router.Add("GET", "/a/{id}", Reply("a"));
  router.Add("POST", "/files/{path...}", Reply("f"));
  router.AddWebSocket("/ws", [](Request&) { return UpgradeDecision{}; });
  router.SetFallback(Reply("fallback"));  // not a route
  using Pair = std::pair<std::string, std::string>;
  EXPECT_EQ(router.Routes(),
            (std::vector<Pair>{{"GET", "/a/{id}"}, {"POST", "/files/{path...}"}, {"GET", "/ws"}}));
}

TEST(RouterGuardTest, SeesTheMatchedPatternAndCanRefuseBeforeTheHandler) {
  Router router;
  int handled = 0;
  router.Add("GET", "/open", [&handled](Request&) {
    ++handled;
    return Response::NoContent();
  });
  router.Add("POST", "/admin/{id}", [&handled](Request&) {
    ++handled;
    return Response::NoContent();
  });
  router.SetFallback(Reply("fallback"));
  std::vector<std::string> seen;
  router.SetGuard([&seen](const Request& r) -> std::optional<Response> {
    seen.push_back(r.method + " " + r.route);
    if (r.route == "/admin/{id}") {
      return ErrorResponse(core::Status::Unauthenticated("admin key required"));
    }
    return std::nullopt;
  });
  Request open = Make("GET", "/open");
  EXPECT_EQ(router.Dispatch(open).status, 204);
  Request admin = Make("POST", "/admin/7");
  EXPECT_EQ(router.Dispatch(admin).status, 401);
  EXPECT_EQ(handled, 1);  // the refused request never reached its handler
  // 404, 405 and the fallback are answered without asking the guard.
  Request wrong_method = Make("GET", "/admin/7");
  EXPECT_EQ(router.Dispatch(wrong_method).status, 405);
  Request fallback = Make("GET", "/index.html");
  EXPECT_EQ(router.Dispatch(fallback).status, 200);
  Request missing = Make("POST", "/nothing");
  EXPECT_EQ(router.Dispatch(missing).status, 404);
  EXPECT_EQ(seen, (std::vector<std::string>{"GET /open", "POST /admin/{id}"}));
}

}  // namespace
}  // namespace imgpipe::http
