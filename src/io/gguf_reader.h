// GGUF reading: parse_gguf checks and decodes a whole GGUF v2/v3 file held in memory (the fuzzer
// calls it on raw bytes); open_gguf maps a file and builds a TensorStore from it.
//
// Everything a file claims is untrusted: each count, length and dimension is checked against the
// bytes that remain and against explicit limits before anything is allocated, so a hostile header
// fails in time proportional to the bytes actually present. Parsing costs one pass over the header
// and never touches tensor data.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf_metadata.h"
#include "io/tensor_store.h"

namespace ponder {

// Limits on what a GGUF header may claim. They sit far above any real model (a 256k-token
// vocabulary is about 1M array items in all) and bound the memory a hostile header can make us
// allocate: every metadata item costs sizeof(GgufValue) (48 bytes) however few bytes it took.
struct GgufLimits {
  static constexpr uint32_t kDefaultAlignment = 32;
  static constexpr uint64_t kMaxKeyBytes = 65535;  // the GGUF specification's limit
  static constexpr uint64_t kMaxTensorNameBytes = 65535;
  static constexpr uint32_t kMaxDims = 4;                        // GGML_MAX_DIMS
  static constexpr int kMaxArrayDepth = 8;                       // arrays of arrays of ...
  static constexpr uint64_t kMaxArrayItems = uint64_t{1} << 23;  // across the whole file
};

struct GgufFile {
  uint32_t version = 0;
  uint32_t alignment = GgufLimits::kDefaultAlignment;
  uint64_t data_offset = 0;  // where the (aligned) tensor data section starts in the file
  GgufMetadata metadata;
  // Shapes outermost-first; data points into the bytes given to parse_gguf.
  std::vector<TensorInfo> tensors;
};

// Parses and fully validates `bytes` as a GGUF file; `file_name` prefixes every error message.
// Throws ponder::Error naming the file, the field or tensor, and the limit that was broken.
GgufFile parse_gguf(std::span<const uint8_t> bytes, std::string_view file_name);

// Maps `path` and parses it. The store's folder is the file's directory.
TensorStore open_gguf(const std::string& path);

}  // namespace ponder
