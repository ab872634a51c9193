// PostgreSQL LISTEN on a dedicated connection with its own thread (Database::Listen's backend).
// Internal to src/db.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "db/database.h"

namespace imgpipe::db::postgres {

// Connects to `url` and LISTENs on `channel` before returning, so a notification sent after
// this returns is delivered. The thread reconnects with backoff when the connection drops and
// then calls on_notify("") (notifications may have been missed meanwhile).
core::Result<std::unique_ptr<Subscription>> StartListener(
    const std::string& url, std::string_view channel,
    std::function<void(std::string_view payload)> on_notify);

}  // namespace imgpipe::db::postgres
