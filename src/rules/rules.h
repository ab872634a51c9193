// rules: automatic processing rules (what MONAI Deploy and dcm4chee call routing rules). A rules
// file says "when a series with these attributes is complete, run this algorithm on it"; the
// engine finds complete series in the PACS index and submits their jobs through jobs::JobService,
// with each rule's subscribers as the job's recipients.
//
// Contract:
// - The rules file (JSON): {"rules":[{"name","when":{attribute: pattern},"algorithm","params",
//   "scope","quiet_seconds","export":[destination]}]}. name: [a-z0-9-]{1,32}, unique. when: at
//   least one of Modality, BodyPartExamined, SeriesDescription, StudyDescription; a pattern
//   matches the whole value, case-insensitively, with * (any run) and ? (one character).
//   algorithm, scope ("series" or "study") and params are checked against the registry as a
//   submit would check them. quiet_seconds: 1..86400, default 10. export: names of export
//   destinations the rule's jobs send their DICOM outputs to (SubmitRequest::export_to; the app
//   checks them against the configured destinations at start). Unknown keys are errors.
//   ParseRulesFile's error is one line naming the rule and what is wrong.
// - Completion: a series is complete once no new instance has arrived for quiet_seconds
//   (pacs::SeriesActivity::last_ingest_ms). A rule considers only series whose last new instance
//   arrived at or after the rule was first seen by an engine on this database (its first-seen time
//   is stored), so images stored before the rule existed are never processed retroactively.
// - Firing: a matching complete series fires its rule ONCE: Submit for the rule's own client
//   (provisioned once, stored), idempotency key "{rule}/{series_id}", the rule's subscribers as
//   notify_clients. The firing is recorded (rule, series, job, time). Several engines on one
//   database (several api processes) fire each (rule, series) once: Submit returns the first job
//   for a repeated key. A series that receives more instances after its rule fired does not fire
//   again. A submit refused for good (the series vanished, the params no longer fit an external
//   algorithm) is recorded with its error and not retried; a transient refusal (queue full,
//   database busy) is retried on the next tick.
// - Subscriptions: a client subscribes to a rule to receive the results of its future firings
//   (the subscribers at firing time become the job's recipients).
//
// Thread-safety: RuleService is thread-safe. Its database, job service, PACS and registry must
// outlive it.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "algorithms/algorithms.h"
#include "core/status.h"
#include "db/database.h"
#include "jobs/jobs.h"
#include "pacs/pacs.h"

namespace imgpipe::http {
class Router;
}

namespace imgpipe::rules {

// The attributes a rule's "when" may name, as DICOM keywords.
inline constexpr std::string_view kMatchAttributes[] = {"Modality", "BodyPartExamined",
                                                        "SeriesDescription", "StudyDescription"};

struct Rule {
  std::string name;
  std::vector<std::pair<std::string, std::string>> when;  // (attribute keyword, pattern)
  std::string algorithm;
  boost::json::object params;  // as written (validated; the job stores them with defaults)
  std::string scope;           // "series" | "study"
  int quiet_seconds = 10;
  std::vector<std::string> export_destinations;  // "export": SubmitRequest::export_to
};

// Parses and validates a rules file's text against `registry` (see the contract).
core::Result<std::vector<Rule>> ParseRules(std::string_view text,
                                           const algorithms::Registry& registry);
// Reads `path` and parses it; errors name the file.
core::Result<std::vector<Rule>> LoadRulesFile(const std::string& path,
                                              const algorithms::Registry& registry);

// Whole-value, case-insensitive match with * and ? wildcards.
bool WildcardMatch(std::string_view pattern, std::string_view value);
// Whether every condition of `rule.when` holds for `series`.
bool Matches(const Rule& rule, const pacs::SeriesActivity& series);

// The rule as GET /api/rules shows it: {"name","when","algorithm","params","scope",
// "quiet_seconds","export"}.
boost::json::object RuleJson(const Rule& rule);

// One firing of a rule (GET /api/rules/{name}/jobs).
struct Firing {
  std::string rule, series_id, study_id;
  std::string job_id;  // "" when the submit was refused for good
  std::string error;   // why it was refused
  int64_t fired_at_ms = 0;
};

struct RuleServiceOptions {
  // Clock (Unix ms), for tests. Default: the system clock.
  std::function<int64_t()> now_ms;
  // How often the engine thread looks for complete series.
  std::chrono::milliseconds tick = std::chrono::seconds(1);
};

class RuleService {
 public:
  // Applies the rules schema (db::Migrate). Nothing fires until Start (or Activate + Tick).
  static core::Result<std::unique_ptr<RuleService>> Create(db::Database& db, jobs::JobService& jobs,
                                                           pacs::Pacs& pacs,
                                                           std::vector<Rule> rules,
                                                           RuleServiceOptions options = {});
  ~RuleService();
  RuleService(const RuleService&) = delete;
  RuleService& operator=(const RuleService&) = delete;

  const std::vector<Rule>& rules() const { return rules_; }
  const Rule* Find(std::string_view name) const;

  // Records each rule's first-seen time and provisions its client, where not done before on this
  // database. Idempotent; several processes may call it at once.
  core::Status Activate();
  // Activate, then a thread running Tick every options.tick until Stop (or destruction).
  core::Status Start();
  void Stop();
  // One pass: fires every rule on its matching series complete at `now_ms`. REQUIRES: Activate.
  // Returns the number of jobs submitted (new or found by their key).
  core::Result<int> Tick(int64_t now_ms);

  // NotFound for an unknown rule; Unauthenticated for an unknown client (the HTTP layer checks
  // first). Subscribe is idempotent; Unsubscribe of a non-subscriber is a no-op.
  core::Status Subscribe(std::string_view rule, std::string_view client_id);
  core::Status Unsubscribe(std::string_view rule, std::string_view client_id);
  // The rules `client_id` is subscribed to.
  core::Result<std::vector<std::string>> Subscriptions(std::string_view client_id);
  // The rule's firings, newest first (limit 1..1000).
  core::Result<std::vector<Firing>> Firings(std::string_view rule, int limit);
  // The rule's own client (after Activate), "" before.
  std::string RuleClient(std::string_view rule) const;

 private:
  // A rule's stored state (rules_rules row) and how far its engine has looked.
  struct State {
    bool active = false;
    std::string client_id;
    int64_t first_seen_ms = 0;
    int64_t scanned_to_ms = 0;  // series with last_ingest_ms <= this were considered
  };
  RuleService(db::Database& db, jobs::JobService& jobs, pacs::Pacs& pacs, std::vector<Rule> rules,
              RuleServiceOptions options);
  int64_t NowMs() const;
  core::Result<int> TickRule(const Rule& rule, State& state, int64_t now_ms);
  // Submits `series` for `rule`; false when the refusal is transient (retry later).
  core::Result<bool> Fire(const Rule& rule, const State& state, const pacs::SeriesActivity& series);

  db::Database& db_;
  jobs::JobService& jobs_;
  pacs::Pacs& pacs_;
  std::vector<Rule> rules_;
  RuleServiceOptions options_;
  std::vector<State> states_;  // one per rule, same order; guarded by tick_mu_
  mutable std::mutex tick_mu_;
  class Engine;
  std::unique_ptr<Engine> engine_;
};

// GET /api/rules, POST and DELETE /api/rules/{name}/subscriptions, GET /api/rules/{name}/jobs.
void RegisterRoutes(http::Router& router, RuleService& rules, jobs::JobService& jobs);

}  // namespace imgpipe::rules
