#include "app/openapi.h"

#include <string>

namespace imgpipe::app {

void AddOpenApiRoute(http::Router& router) {
  router.Add("GET", "/openapi.json", [](http::Request&) {
    return http::Response::Json(200, std::string(OpenApiDocument()));
  });
}

}  // namespace imgpipe::app
