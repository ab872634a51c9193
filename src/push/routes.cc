// GET /api/events: stored events over plain HTTP.
#include <charconv>

#include "push/push.h"

namespace imgpipe::push {
namespace {

using core::Result;
using core::Status;

Result<int64_t> ParseCount(std::optional<std::string_view> text, std::string_view name,
                           int64_t fallback, int64_t min, int64_t max) {
  if (!text) return fallback;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < min || value > max) {
    return Status::InvalidArgument(std::string(name) + " must be an integer within " +
                                   std::to_string(min) + ".." + std::to_string(max));
  }
  return value;
}

Result<http::Response> Events(const http::Request& request, EventStore& store,
                              const std::function<Result<bool>(std::string_view)>& exists) {
  std::optional<std::string_view> client = request.Header("x-client-id");
  if (!client) client = request.Query("client_id");
  if (!client || client->empty()) {
    return Status::Unauthenticated("client_id is required (X-Client-Id header or query)");
  }
  IMGPIPE_ASSIGN_OR_RETURN(bool known, exists(*client));
  if (!known) return Status::Unauthenticated("unknown client_id");
  IMGPIPE_ASSIGN_OR_RETURN(int64_t after, ParseCount(request.Query("after"), "after", 0, 0,
                                                     std::numeric_limits<int64_t>::max()));
  IMGPIPE_ASSIGN_OR_RETURN(int64_t limit,
                           ParseCount(request.Query("limit"), "limit", 100, 1, 1000));
  // The last sequence number first: an event stored between the two reads shows up on the next
  // call, never as a gap.
  IMGPIPE_ASSIGN_OR_RETURN(int64_t last, store.LastSeq(*client));
  IMGPIPE_ASSIGN_OR_RETURN(auto events, store.After(*client, after, static_cast<int>(limit)));
  if (!events.empty()) last = std::max(last, events.back().seq);
  return http::Response::Json(200, EventsJson(events, last));
}

}  // namespace

void RegisterRoutes(http::Router& router, EventStore& store,
                    std::function<Result<bool>(std::string_view)> client_exists) {
  router.Add("GET", "/api/events",
             [&store, exists = std::move(client_exists)](http::Request& request) {
               Result<http::Response> response = Events(request, store, exists);
               if (!response.ok()) return http::ErrorResponse(response.status());
               return std::move(response).value();
             });
}

}  // namespace imgpipe::push
