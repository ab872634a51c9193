// fuzz_json: the JSON body of POST /api/process/{algorithm}, through the real route
// (jobs::RegisterRoutes: size and depth limits, the object check, unknown fields, field types)
// and JobService::Submit (the algorithm's scope and params schema of the built-in registry, UID
// checks, PACS lookups, the job row and its queue message), on SQLite, an in-memory blob store and
// a PACS holding one demo study. Then, straight, algorithms::ValidateParams of the body's "params"
// against every built-in algorithm.
//
// Input: "ALGORITHM\nBODY"; without a newline the whole input is the body, for processing_1.
// In the body, $CLIENT, $STUDY, $SERIES and $IMAGE become the provisioned client and the stored
// demo image's UIDs (they are fresh each run), so seeds reach a successful submit.
//
// Oracles besides the sanitizers: no body gives 500; params ValidateParams accepts validate again
// to the same params (the stored params of a job are re-read by the worker).
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "algorithms/algorithms.h"
#include "blob/blob_store.h"
#include "db/database.h"
#include "dicom/dicom.h"
#include "http/http.h"
#include "jobs/jobs.h"
#include "jobs/routes.h"
#include "pacs/pacs.h"
#include "queue/queue.h"

namespace {

using namespace imgpipe;
namespace json = boost::json;

// The server's stack, rebuilt every kSubmitsPerStack accepted jobs so the database stays small.
struct Stack {
  std::unique_ptr<db::Database> db;
  std::unique_ptr<blob::BlobStore> blobs;
  std::unique_ptr<pacs::Pacs> pacs;
  std::unique_ptr<queue::QueueService> queues;
  std::unique_ptr<jobs::JobService> jobs;
  http::Router router;
  std::string client, study, series, image;
  int accepted = 0;
};
constexpr int kSubmitsPerStack = 2000;

Stack* stack = nullptr;

template <typename T>
T Must(core::Result<T> result, const char* what) {
  if (!result.ok()) {
    std::fprintf(stderr, "fuzz_json setup: %s: %s\n", what, result.status().ToString().c_str());
    std::abort();
  }
  return std::move(result).value();
}

void BuildStack() {
  delete stack;
  stack = new Stack;
  db::SqliteOptions options;
  options.synchronous_full = false;
  stack->db = Must(db::OpenSqlite(":memory:", options), "database");
  stack->blobs = blob::NewMemBlobStore();
  stack->pacs = Must(pacs::Pacs::Open(*stack->db, *stack->blobs, {}), "pacs");
  static const std::string* demo = [] {
    // The smallest demo file: the cheapest image to hold.
    std::vector<dicom::DemoFile> files = dicom::MakeDemoDataset();
    const dicom::DemoFile* smallest = &files.front();
    for (const auto& f : files) {
      if (f.bytes.size() < smallest->bytes.size()) smallest = &f;
    }
    return new std::string(smallest->bytes);
  }();
  pacs::IngestResult ingested = Must(stack->pacs->Ingest(*demo), "ingest");
  stack->study = ingested.instance.study_id;
  stack->series = ingested.instance.series_id;
  stack->image = ingested.instance.image_id;
  stack->queues = Must(queue::NewSqlQueueService(*stack->db), "queues");
  jobs::JobServiceOptions job_options;
  job_options.max_queue_depth = 0;  // the stack is rebuilt before queues grow
  stack->jobs = Must(jobs::JobService::Create(*stack->db, *stack->queues, *stack->pacs, job_options,
                                              algorithms::Registry::BuiltIn()),
                     "jobs");
  stack->client = Must(stack->jobs->Provision(), "provision");
  jobs::RegisterRoutes(stack->router, *stack->jobs, *stack->queues, *stack->blobs,
                       algorithms::Registry::BuiltIn());
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

// Validated params must validate again to themselves: the worker re-reads the stored ones.
void CheckParams(const json::value& params) {
  for (const algorithms::Algorithm* algorithm : algorithms::Registry::BuiltIn().List()) {
    core::Result<algorithms::Params> first = algorithms::ValidateParams(algorithm->info(), params);
    if (!first.ok()) continue;
    json::object stored = first->ToJson();
    core::Result<algorithms::Params> again =
        algorithms::ValidateParams(algorithm->info(), json::value(stored));
    if (!again.ok() || again->ToJson() != stored) {
      std::fprintf(stderr, "%s: params %s do not validate again\n", algorithm->info().name.c_str(),
                   json::serialize(stored).c_str());
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  dicom::Initialize();
  BuildStack();
  std::atexit([] {  // the ":memory:" database is a temp folder, removed when it closes
    delete stack;
    stack = nullptr;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string algorithm = "processing_1";
  if (size_t newline = input.find('\n'); newline != std::string_view::npos) {
    algorithm = std::string(input.substr(0, newline));
    input.remove_prefix(newline + 1);
  }
  std::string body(input);
  ReplaceAll(body, "$CLIENT", stack->client);
  ReplaceAll(body, "$STUDY", stack->study);
  ReplaceAll(body, "$SERIES", stack->series);
  ReplaceAll(body, "$IMAGE", stack->image);

  http::Request request;
  request.method = "POST";
  request.path = "/api/process/" + algorithm;
  request.headers = {{"content-type", "application/json"}, {"x-client-id", stack->client}};
  request.body = body;
  http::Response response = stack->router.Dispatch(request);
  if (response.status == 500) {
    std::fprintf(stderr, "500 for %s\n", response.body.c_str());
    std::abort();
  }
  if (response.status == 202 && ++stack->accepted >= kSubmitsPerStack) BuildStack();

  boost::system::error_code ec;
  json::parse_options depth;
  depth.max_depth = jobs::RoutesOptions{}.max_json_depth;
  json::value value = json::parse(body, ec, {}, depth);
  if (ec || !value.is_object()) return 0;
  if (const json::value* params = value.as_object().if_contains("params")) CheckParams(*params);
  return 0;
}
