// libFuzzer target for the OpenAI request schema (src/server/openai_request): any body must give
// a request or an ApiError, never a crash, a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/openai_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ponder::server::RequestLimits limits;
  limits.model_id = "m";
  limits.context_tokens = 4096;
  limits.vocab_size = 1000;
  const std::string body(reinterpret_cast<const char*>(data), size);
  try {
    const nlohmann::json j = ponder::server::parse_body(body);
    try {
      (void)ponder::server::parse_chat_request(j, limits);
    } catch (const ponder::server::ApiError&) {
    }
    (void)ponder::server::parse_completion_request(j, limits);
  } catch (const ponder::server::ApiError&) {
  }
  return 0;
}
