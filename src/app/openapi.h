// GET /openapi.json: the OpenAPI 3 description of every HTTP endpoint imgpipe serves. The document
// is src/app/openapi.json, compiled in; routes_test.cc keeps it equal, both ways, to the routes
// RegisterServeRoutes registers.
#pragma once

#include <string_view>

#include "http/http.h"

namespace imgpipe::app {

// The document's JSON text.
std::string_view OpenApiDocument();

// GET /openapi.json -> the document, application/json.
void AddOpenApiRoute(http::Router& router);

}  // namespace imgpipe::app
