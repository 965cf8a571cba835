// safetensors reading: parse_safetensors checks and decodes one file held in memory (the fuzzer
// calls it on raw bytes); parse_safetensors_index checks a sharded model's index; the open_*
// functions map files and build a TensorStore (single file, sharded index, Hugging Face folder).
//
// Layout of a file: u64 little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ..., "__metadata__": {...}}
// then the data section; offsets are relative to its start (8 + N).
// Everything is untrusted: the header length is bounded before the JSON is parsed, the JSON's
// nesting depth is bounded before nlohmann builds a tree from it, and every tensor's offsets are
// checked against the data section, its dtype × shape, its element alignment and its neighbours.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/tensor_store.h"

namespace ponder {

struct SafetensorsLimits {
  static constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;  // as the safetensors crate
  static constexpr uint64_t kMaxIndexBytes = uint64_t{100} << 20;
  static constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;
  static constexpr int kMaxJsonDepth = 16;  // real headers nest 3 deep
  static constexpr size_t kMaxDims = 8;
};

// Parses and fully validates one safetensors file; tensors come back in file order with data
// pointing into `bytes`. `file_name` prefixes every error message.
std::vector<TensorInfo> parse_safetensors(std::span<const uint8_t> bytes, std::string_view file_name);

// The content of a model.safetensors.index.json.
struct SafetensorsIndex {
  std::vector<std::string> shards;                              // distinct shard file names, in order of first mention
  std::vector<std::pair<std::string, std::string>> weight_map;  // tensor name -> shard file name
};

// Parses an index's JSON text: "weight_map" must map tensor names to plain file names (no
// directory part, no "..").
SafetensorsIndex parse_safetensors_index(std::string_view json_text, std::string_view file_name);

// Maps and parses `files` (safetensors shards of one model) into one store; `folder` is where
// config.json is looked for (optional here) and becomes the store's folder().
TensorStore open_safetensors(const std::vector<std::string>& files, const std::string& folder);

// Opens a model.safetensors.index.json and the shards it names (in the same folder), checking that
// every tensor of the weight map is in the shard the map names.
TensorStore open_safetensors_index(const std::string& index_path);

// Opens a Hugging Face model folder: config.json is required, weights come from
// model.safetensors.index.json if present, else model.safetensors.
TensorStore open_hf_folder(const std::string& folder);

// Reads a small JSON file (config.json, an index) of at most `max_bytes`; errors name the file.
nlohmann::json read_json_file(const std::string& path, uint64_t max_bytes);

}  // namespace ponder
