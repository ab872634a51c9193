// The rules module's SQL: schema and row access for rules_rules, rules_subscriptions and
// rules_firings. Internal to src/rules; every function runs inside the caller's transaction.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "db/database.h"
#include "rules/rules.h"

namespace imgpipe::rules::internal {

// Applies the rules schema (db::Migrate component "rules").
core::Status MigrateSchema(db::Database& db);

struct RuleRow {
  std::string client_id;
  int64_t first_seen_ms = 0;
  int64_t scanned_to_ms = 0;
};
core::Result<std::optional<RuleRow>> FindRule(db::Transaction& tx, std::string_view name);
// Inserts the rule's row unless one exists (the first process to commit wins).
core::Status InsertRule(db::Transaction& tx, std::string_view name, std::string_view client_id,
                        int64_t now_ms);
// Moves scanned_to_ms forward (never back).
core::Status AdvanceScan(db::Transaction& tx, std::string_view name, int64_t scanned_to_ms);

core::Status InsertSubscription(db::Transaction& tx, std::string_view rule,
                                std::string_view client_id, int64_t now_ms);
core::Status DeleteSubscription(db::Transaction& tx, std::string_view rule,
                                std::string_view client_id);
core::Result<int64_t> CountSubscribers(db::Transaction& tx, std::string_view rule);
core::Result<std::vector<std::string>> Subscribers(db::Transaction& tx, std::string_view rule);
core::Result<std::vector<std::string>> SubscribedRules(db::Transaction& tx,
                                                       std::string_view client_id);

core::Result<bool> HasFired(db::Transaction& tx, std::string_view rule, std::string_view series);
// Records the firing unless one is recorded already.
core::Status InsertFiring(db::Transaction& tx, const Firing& firing);
core::Result<std::vector<Firing>> ListFirings(db::Transaction& tx, std::string_view rule,
                                              int limit);

}  // namespace imgpipe::rules::internal
