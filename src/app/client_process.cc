// imgpipe process ALGORITHM --study S --series SE --image I ...: submits one job, waits for its
// result (client_wait.h), prints it and optionally downloads its outputs.
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "app/client_common.h"
#include "app/client_wait.h"

namespace imgpipe::app::client {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

constexpr double kDefaultTimeoutS = 600;

struct ProcessRequest {
  std::string algorithm;
  std::string scope = "image";
  json::object body;  // study_id, series_id, image_id, scope, params (client_id added later)
  std::optional<std::string> idempotency_key;
  std::optional<std::string> output_dir;
  bool json_output = false;
  double timeout_s = kDefaultTimeoutS;
};

// "k=v": true/false as booleans, JSON numbers as numbers, anything else as a string.
json::value ParamValue(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (!ec && v.is_number()) return v;
  return json::string(text);
}

// Fills *out from the arguments; a usage failure says which flag is wrong.
int ParseRequest(const Args& args, ProcessRequest* out) {
  if (args.positional.size() != 1) {
    return Fail(kExitUsage, args.positional.empty() ? "process: the ALGORITHM argument is missing"
                                                    : "process: one ALGORITHM only, got \"" +
                                                          args.positional[1] + "\" too");
  }
  out->algorithm = args.positional[0];
  out->scope = args.Get("scope").value_or("image");
  if (out->scope != "image" && out->scope != "series" && out->scope != "study") {
    return Fail(kExitUsage,
                "process: --scope must be image, series or study, not \"" + out->scope + "\"");
  }
  // What each scope needs: the study always, the series below study scope, the image for one.
  std::vector<std::pair<const char*, const char*>> needed = {{"study", "study_id"}};
  if (out->scope != "study") needed.push_back({"series", "series_id"});
  if (out->scope == "image") needed.push_back({"image", "image_id"});
  for (const auto& [flag, field] : needed) {
    auto value = args.Get(flag);
    if (!value || value->empty()) {
      return Fail(kExitUsage,
                  std::string("process: --") + flag + " is required for scope " + out->scope);
    }
    out->body[field] = *value;
  }
  for (const char* optional : {"series", "image"}) {
    std::string field = std::string(optional) + "_id";
    if (!out->body.contains(field)) {
      if (auto value = args.Get(optional)) out->body[field] = *value;
    }
  }
  out->body["scope"] = out->scope;
  json::object params;
  if (auto it = args.flags.find("param"); it != args.flags.end()) {
    for (const std::string& kv : it->second) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Fail(kExitUsage, "process: --param takes NAME=VALUE, not \"" + kv + "\"");
      }
      params[kv.substr(0, eq)] = ParamValue(kv.substr(eq + 1));
    }
  }
  out->body["params"] = std::move(params);
  if (auto it = args.flags.find("export"); it != args.flags.end()) {
    json::array to;
    for (const std::string& name : it->second) to.emplace_back(name);
    out->body["export"] = std::move(to);
  }
  if (auto t = args.Get("timeout")) {
    char* end = nullptr;
    out->timeout_s = std::strtod(t->c_str(), &end);
    if (t->empty() || *end != '\0' || !(out->timeout_s > 0) || out->timeout_s > 86400 * 7) {
      return Fail(kExitUsage,
                  "process: --timeout must be a number of seconds > 0, not \"" + *t + "\"");
    }
  }
  out->idempotency_key = args.Get("idempotency-key");
  out->output_dir = args.Get("output");
  out->json_output = args.Has("json");
  return kExitOk;
}

// The client id to use: given, or a new one (announced on stderr).
int ObtainClientId(const Args& args, const std::map<std::string, std::string>& env,
                   const Endpoints& endpoints, std::string* client_id) {
  if (auto given = ClientIdFrom(args, env)) {
    *client_id = *given;
    return kExitOk;
  }
  json::value reply;
  if (int rc = CallJson("POST", endpoints.api_base + "/provision", "", {}, &reply)) return rc;
  const json::value* id = reply.is_object() ? reply.as_object().if_contains("client_id") : nullptr;
  if (id == nullptr || !id->is_string()) {
    return Fail(kExitUnavailable, "POST /provision: the reply has no client_id");
  }
  *client_id = std::string(id->as_string());
  std::fprintf(stderr,
               "imgpipe: no --client-id or IMGPIPE_CLIENT_ID: provisioned client %s "
               "(export IMGPIPE_CLIENT_ID=%s to reuse it)\n",
               client_id->c_str(), client_id->c_str());
  return kExitOk;
}

// An output URL of a result ("/api/results/<job>/image.png") made absolute.
std::string Absolute(const Endpoints& endpoints, const std::string& url) {
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) return url;
  return endpoints.origin + (url.empty() || url.front() != '/' ? "/" : "") + url;
}

// Where an output goes under the download folder: its path below /results/{job}/ ("image.png",
// "1/image.png" for an image of a series job), else its last segment; `name` (the output's key)
// when that is empty or would leave the folder.
fs::path LocalName(const std::string& url, const std::string& job_id, std::string name) {
  for (char& c : name) c = c == '/' || c == '\\' ? '_' : c;
  if (name.empty() || name == "." || name == "..") name = "output";
  std::string path = url.substr(0, url.find_first_of("?#"));
  const std::string marker = "/results/" + job_id + "/";
  if (size_t at = path.find(marker); !job_id.empty() && at != std::string::npos) {
    path = path.substr(at + marker.size());
  } else {
    path = path.substr(path.rfind('/') + 1);
  }
  fs::path local;
  for (const auto& part : fs::path(path)) {
    if (part.empty() || part == "." || part == ".." || part == "/") return name;
    local /= part;
  }
  return local.empty() ? fs::path(name) : local;
}

// Downloads every output of `result` into `dir` (see LocalName).
int DownloadOutputs(const Endpoints& endpoints, const std::string& client_id,
                    const json::object& result, const std::string& dir, bool quiet_stdout) {
  const json::value* id = result.if_contains("job_id");
  const std::string job_id = id != nullptr && id->is_string() ? std::string(id->as_string()) : "";
  std::error_code fs_error;
  fs::create_directories(dir, fs_error);
  if (fs_error) return Fail(kExitUsage, "--output " + dir + ": " + fs_error.message());
  const json::value* outputs = result.if_contains("outputs");
  if (outputs == nullptr || !outputs->is_object()) return kExitOk;
  for (const auto& [name, value] : outputs->as_object()) {
    if (!value.is_string()) continue;
    const std::string url = Absolute(endpoints, std::string(value.as_string()));
    const fs::path file = LocalName(url, job_id, std::string(name));
    std::string bytes;
    if (int rc = CallBytes("GET", url, "", {{"X-Client-Id", client_id}}, &bytes,
                           {.timeout = std::chrono::minutes(5), .body_limit = 4ull << 30})) {
      return rc;
    }
    const fs::path path = fs::path(dir) / file;
    fs::create_directories(path.parent_path(), fs_error);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) return Fail(kExitUsage, "cannot write " + path.string());
    std::fprintf(quiet_stdout ? stderr : stdout, "saved %s (%zu bytes)\n", path.c_str(),
                 bytes.size());
  }
  return kExitOk;
}

void PrintHuman(const Endpoints& endpoints, const json::object& result) {
  auto text = [&](const char* key) {
    const json::value* v = result.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  std::string line = "job " + text("job_id") + ": " + text("status");
  if (!text("algorithm").empty()) line += " (" + text("algorithm");
  if (const json::value* d = result.if_contains("duration_ms"); d && d->is_number()) {
    char buf[48];
    std::snprintf(buf, sizeof(buf), ", %.1f ms", d->to_number<double>());
    line += buf;
  }
  if (!text("algorithm").empty()) line += ")";
  std::printf("%s\n", line.c_str());
  if (const json::value* o = result.if_contains("outputs"); o && o->is_object()) {
    for (const auto& [name, url] : o->as_object()) {
      if (url.is_string()) {
        std::printf("  %-8s %s\n", std::string(name).c_str(),
                    Absolute(endpoints, std::string(url.as_string())).c_str());
      }
    }
  }
  if (const json::value* e = result.if_contains("exports"); e && e->is_array()) {
    for (const json::value& x : e->as_array()) {
      if (!x.is_object()) continue;
      auto field = [&](const char* key) {
        const json::value* v = x.as_object().if_contains(key);
        return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
      };
      std::printf("  export %s: %s%s\n", field("destination").c_str(), field("status").c_str(),
                  field("error").empty() ? "" : (" (" + field("error") + ")").c_str());
    }
  }
}

std::string ErrorText(const json::object& result) {
  const json::value* e = result.if_contains("error");
  if (e == nullptr || !e->is_object()) return "no error given";
  std::string out;
  for (const char* key : {"code", "message"}) {
    const json::value* v = e->as_object().if_contains(key);
    if (v != nullptr && v->is_string()) {
      out += (out.empty() ? "" : ": ") + std::string(v->as_string());
    }
  }
  return out.empty() ? "no error given" : out;
}

}  // namespace

int RunProcess(const Config& config, const std::map<std::string, std::string>& env,
               const std::vector<std::string>& words) {
  std::string error;
  auto args = ParseArgs(words,
                        {"study", "series", "image", "scope", "param", "client-id", "output",
                         "timeout", "idempotency-key", "export"},
                        {"json"}, &error);
  if (!args) return Fail(kExitUsage, "process: " + error);
  ProcessRequest request;
  if (int rc = ParseRequest(*args, &request)) return rc;
  auto endpoints = ResolveEndpoints(config, env, &error);
  if (!endpoints) return Fail(kExitUsage, error);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(request.timeout_s * 1000));

  std::string client_id;
  if (int rc = ObtainClientId(*args, env, *endpoints, &client_id)) return rc;
  request.body["client_id"] = client_id;
  // The event stream first: nothing the job sends can then be missed.
  EventStream events(*endpoints, client_id);
  http::HeaderList headers;
  if (request.idempotency_key) headers.emplace_back("Idempotency-Key", *request.idempotency_key);
  json::value accepted;
  if (int rc = CallJson("POST", endpoints->api_base + "/process/" + UrlEncode(request.algorithm),
                        json::serialize(request.body), headers, &accepted)) {
    return rc;
  }
  const json::value* job_id =
      accepted.is_object() ? accepted.as_object().if_contains("job_id") : nullptr;
  if (job_id == nullptr || !job_id->is_string()) {
    return Fail(kExitUnavailable, "POST /process: the reply has no job_id");
  }
  const std::string job(job_id->as_string());
  if (!request.json_output) std::fprintf(stderr, "submitted job %s\n", job.c_str());

  json::object result;
  {
    ProgressDisplay progress(request.scope != "image");
    if (int rc = events.WaitForResult(job, deadline, progress, &result)) return rc;
  }
  const std::string status = result.contains("status") && result.at("status").is_string()
                                 ? std::string(result.at("status").as_string())
                                 : std::string();
  if (request.body.contains("export")) {
    // The export statuses as they stand now (exports go on after the job's result).
    json::value job_json;
    if (int rc = CallJson(
            "GET",
            endpoints->api_base + "/jobs/" + UrlEncode(job) + "?client_id=" + UrlEncode(client_id),
            "", {}, &job_json)) {
      return rc;
    }
    if (const json::value* exports =
            job_json.is_object() ? job_json.as_object().if_contains("exports") : nullptr) {
      result["exports"] = *exports;
    }
  }
  if (request.json_output) {
    std::printf("%s\n", json::serialize(result).c_str());
  } else {
    PrintHuman(*endpoints, result);
  }
  std::fflush(stdout);
  if (status != "succeeded") {
    return Fail(kExitJobFailed, "job " + job + " " + (status.empty() ? "ended" : status) + ": " +
                                    ErrorText(result));
  }
  if (request.output_dir) {
    return DownloadOutputs(*endpoints, client_id, result, *request.output_dir, request.json_output);
  }
  return kExitOk;
}

}  // namespace imgpipe::app::client
