// The chat page (web/: plain HTML, CSS and JavaScript, no build step), embedded into the binary
// at build time by cmake/embed_web.cmake, so `ponder serve` needs no files beside it.
#pragma once

#include <span>
#include <string_view>

namespace ponder::server {

struct WebAsset {
  std::string_view path;          // "/index.html", "/app.js", ...
  std::string_view content_type;
  std::string_view body;
};

std::span<const WebAsset> web_assets();

}  // namespace ponder::server
