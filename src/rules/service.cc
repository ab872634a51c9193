// RuleService: rule state, subscriptions, and the engine that fires rules on complete series.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <thread>

#include "core/log.h"
#include "rules/rule_store.h"
#include "rules/rules.h"

namespace imgpipe::rules {
namespace {

using core::Result;
using core::Status;

// Series are listed this many at a time.
constexpr int kPage = 500;
// Each pass looks again at the last minute it already looked at: an ingest is stamped before it
// commits, so a series may become visible a little after its stamp (slow commits, several
// processes). Already-fired series cost one indexed lookup; non-matching ones nothing.
constexpr int64_t kOverlapMs = 60'000;

bool IsTransient(const Status& st) {
  switch (st.code()) {
    case core::StatusCode::kResourceExhausted:
    case core::StatusCode::kUnavailable:
    case core::StatusCode::kInternal:
      return true;
    default:
      return false;
  }
}

}  // namespace

class RuleService::Engine {
 public:
  explicit Engine(RuleService& service) : service_(service) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Engine() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      Result<int> fired = service_.Tick(service_.NowMs());
      if (!fired.ok()) spdlog::warn("rules: pass failed: {}", fired.status().ToString());
      lock.lock();
      cv_.wait_for(lock, service_.options_.tick, [this] { return stopping_; });
    }
  }

  RuleService& service_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

RuleService::RuleService(db::Database& db, jobs::JobService& jobs, pacs::Pacs& pacs,
                         std::vector<Rule> rules, RuleServiceOptions options)
    : db_(db),
      jobs_(jobs),
      pacs_(pacs),
      rules_(std::move(rules)),
      options_(std::move(options)),
      states_(rules_.size()) {}

RuleService::~RuleService() { Stop(); }

Result<std::unique_ptr<RuleService>> RuleService::Create(db::Database& db, jobs::JobService& jobs,
                                                         pacs::Pacs& pacs, std::vector<Rule> rules,
                                                         RuleServiceOptions options) {
  IMGPIPE_RETURN_IF_ERROR(internal::MigrateSchema(db));
  return std::unique_ptr<RuleService>(
      new RuleService(db, jobs, pacs, std::move(rules), std::move(options)));
}

int64_t RuleService::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const Rule* RuleService::Find(std::string_view name) const {
  for (const Rule& r : rules_) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

Status RuleService::Activate() {
  std::lock_guard lock(tick_mu_);
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Rule& rule = rules_[i];
    std::optional<internal::RuleRow> row;
    {
      IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
      IMGPIPE_ASSIGN_OR_RETURN(row, internal::FindRule(*tx, rule.name));
    }
    if (!row) {
      // A concurrent first start may provision a client that loses the insert: it stays unused.
      IMGPIPE_ASSIGN_OR_RETURN(std::string client, jobs_.Provision());
      const int64_t now = NowMs();
      IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/true, [&](db::Transaction& tx) {
        return internal::InsertRule(tx, rule.name, client, now);
      }));
      IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
      IMGPIPE_ASSIGN_OR_RETURN(row, internal::FindRule(*tx, rule.name));
      if (!row) return Status::Internal("rule " + rule.name + " vanished");
      spdlog::info("rules: rule {} seen for the first time", rule.name);
    }
    states_[i] = State{true, row->client_id, row->first_seen_ms, row->scanned_to_ms};
  }
  return Status::Ok();
}

Status RuleService::Start() {
  IMGPIPE_RETURN_IF_ERROR(Activate());
  if (!rules_.empty() && !engine_) engine_ = std::make_unique<Engine>(*this);
  spdlog::info("rules: {} automatic processing rules active", rules_.size());
  return Status::Ok();
}

void RuleService::Stop() { engine_.reset(); }

std::string RuleService::RuleClient(std::string_view rule) const {
  std::lock_guard lock(tick_mu_);
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].name == rule) return states_[i].client_id;
  }
  return {};
}

Result<int> RuleService::Tick(int64_t now_ms) {
  std::lock_guard lock(tick_mu_);
  int fired = 0;
  Status first_error;
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (!states_[i].active) return Status::Internal("rules not activated");
    Result<int> n = TickRule(rules_[i], states_[i], now_ms);
    if (n.ok()) {
      fired += *n;
    } else if (first_error.ok()) {
      first_error = n.status().WithContext("rule " + rules_[i].name);
    }
  }
  if (!first_error.ok()) return first_error;
  return fired;
}

Result<int> RuleService::TickRule(const Rule& rule, State& state, int64_t now_ms) {
  const int64_t to = now_ms - int64_t{rule.quiet_seconds} * 1000;
  int64_t cursor = std::max(state.first_seen_ms, state.scanned_to_ms + 1 - kOverlapMs);
  if (to < cursor) return 0;
  int64_t scanned_to = to;
  int fired = 0;
  bool blocked = false;
  while (!blocked) {
    IMGPIPE_ASSIGN_OR_RETURN(std::vector<pacs::SeriesActivity> page,
                             pacs_.ListSeriesIngestedBetween(cursor, to, kPage));
    for (const pacs::SeriesActivity& series : page) {
      if (!Matches(rule, series)) continue;
      {
        IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
        IMGPIPE_ASSIGN_OR_RETURN(bool done, internal::HasFired(*tx, rule.name, series.series_id));
        if (done) continue;
      }
      IMGPIPE_ASSIGN_OR_RETURN(bool settled, Fire(rule, state, series));
      if (!settled) {  // retried on a later pass: the scan must not move past it
        scanned_to = series.last_ingest_ms - 1;
        blocked = true;
        break;
      }
      ++fired;
    }
    if (static_cast<int>(page.size()) < kPage) break;
    // The next page starts at the last one's time (its ties are listed again, harmlessly); a page
    // of one single millisecond moves past it.
    const int64_t last = page.back().last_ingest_ms;
    cursor = last == page.front().last_ingest_ms ? last + 1 : last;
  }
  if (scanned_to > state.scanned_to_ms) {
    IMGPIPE_RETURN_IF_ERROR(db_.Write(/*durable=*/false, [&](db::Transaction& tx) {
      return internal::AdvanceScan(tx, rule.name, scanned_to);
    }));
    state.scanned_to_ms = scanned_to;
  }
  return fired;
}

Result<bool> RuleService::Fire(const Rule& rule, const State& state,
                               const pacs::SeriesActivity& series) {
  jobs::SubmitRequest request;
  request.algorithm = rule.algorithm;
  request.study_id = series.study_id;
  request.series_id = series.series_id;
  request.scope = rule.scope;
  request.client_id = state.client_id;
  request.params = rule.params;
  request.export_to = rule.export_destinations;
  // The rule's own client scopes the key: one job per (rule, series), whoever submits it.
  request.idempotency_key = rule.name + "/" + series.series_id;
  {
    IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
    IMGPIPE_ASSIGN_OR_RETURN(request.notify_clients, internal::Subscribers(*tx, rule.name));
  }
  Result<jobs::SubmitResult> submitted = jobs_.Submit(request);
  Firing firing{rule.name, series.series_id, series.study_id, "", "", NowMs()};
  core::ScopedLogFields fields({.extra = {{"rule", rule.name}, {"series", series.series_id}}});
  if (submitted.ok()) {
    firing.job_id = submitted->job.job_id;
    core::ScopedLogFields job_fields({.job_id = firing.job_id});
    spdlog::info("rules: rule fired ({} recipients{})", request.notify_clients.size(),
                 submitted->existing ? ", job found by its key" : "");
  } else if (IsTransient(submitted.status())) {
    spdlog::warn("rules: submit refused for now, retried later: {}", submitted.status().ToString());
    return false;
  } else {
    firing.error = submitted.status().ToString();
    spdlog::warn("rules: submit refused, the series is skipped: {}", firing.error);
  }
  IMGPIPE_RETURN_IF_ERROR(db_.Write(
      /*durable=*/true, [&](db::Transaction& tx) { return internal::InsertFiring(tx, firing); }));
  return true;
}

Status RuleService::Subscribe(std::string_view rule, std::string_view client_id) {
  if (Find(rule) == nullptr) return Status::NotFound("no rule '" + std::string(rule) + "'");
  IMGPIPE_ASSIGN_OR_RETURN(bool known, jobs_.ClientExists(client_id));
  if (!known) return Status::Unauthenticated("unknown client_id");
  const int64_t now = NowMs();
  return db_.Write(/*durable=*/true, [&](db::Transaction& tx) -> Status {
    IMGPIPE_ASSIGN_OR_RETURN(int64_t count, internal::CountSubscribers(tx, rule));
    if (count >= static_cast<int64_t>(jobs::kMaxRecipients)) {
      return Status::ResourceExhausted("rule " + std::string(rule) + " has " +
                                       std::to_string(count) + " subscribers already");
    }
    return internal::InsertSubscription(tx, rule, client_id, now);
  });
}

Status RuleService::Unsubscribe(std::string_view rule, std::string_view client_id) {
  if (Find(rule) == nullptr) return Status::NotFound("no rule '" + std::string(rule) + "'");
  return db_.Write(/*durable=*/true, [&](db::Transaction& tx) {
    return internal::DeleteSubscription(tx, rule, client_id);
  });
}

Result<std::vector<std::string>> RuleService::Subscriptions(std::string_view client_id) {
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  return internal::SubscribedRules(*tx, client_id);
}

Result<std::vector<Firing>> RuleService::Firings(std::string_view rule, int limit) {
  if (Find(rule) == nullptr) return Status::NotFound("no rule '" + std::string(rule) + "'");
  if (limit < 1 || limit > 1000) return Status::InvalidArgument("limit must be within 1..1000");
  IMGPIPE_ASSIGN_OR_RETURN(auto tx, db_.Begin(db::TxMode::kRead));
  return internal::ListFirings(*tx, rule, limit);
}

}  // namespace imgpipe::rules
