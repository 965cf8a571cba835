// libFuzzer target for parse_safetensors and parse_safetensors_index. Any input must either parse
// or throw ponder::Error; anything else (a crash, a sanitizer report, another exception type) is a
// bug. The same bytes are also read as an index's JSON text, which covers the index parser and
// the shard-name checks.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto tensors = ponder::parse_safetensors(std::span<const uint8_t>(data, size), "fuzz.safetensors");
    // Touch the first and last byte of every tensor so that ASan sees any range outside the input.
    volatile uint8_t sink = 0;
    for (const auto& t : tensors) sink = sink ^ t.data[0] ^ t.data[t.n_bytes - 1];
  } catch (const ponder::Error&) {
  }
  try {
    const auto index =
        ponder::parse_safetensors_index(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
    for (const auto& shard : index.shards) {
      if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos) __builtin_trap();
    }
  } catch (const ponder::Error&) {
  }
  return 0;
}
