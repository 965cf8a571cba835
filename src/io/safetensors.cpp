// The safetensors reader: single files, sharded models behind model.safetensors.index.json, and
// Hugging Face folders (config.json plus either of those).
//
// Invariants of a successful parse: tensor names are unique and non-empty; each tensor's dtype is
// one Ponder knows, its dimensions are nonzero and their product fits int64_t, its byte range
// [begin, end) lies inside the data section, is exactly dtype bytes × elements long, starts at a
// file offset that is a multiple of the element size, and overlaps no other tensor's range.
// Shard names are plain file names in the index's folder. Cost: one JSON parse per header (about
// 200 bytes per tensor); tensor data is never read.
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct SafetensorsDType {
  std::string_view name;
  DType dtype;
};

constexpr SafetensorsDType kDTypes[] = {
    {"F64", DType::F64}, {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16},
    {"I64", DType::I64}, {"I32", DType::I32}, {"I16", DType::I16}, {"I8", DType::I8},
};

DType dtype_from_safetensors(std::string_view file, const std::string& tensor, std::string_view name) {
  for (const auto& d : kDTypes) {
    if (d.name == name) return d.dtype;
  }
  fail("{}: unsupported dtype '{}' for tensor '{}' (supported: F64, F32, F16, BF16, I64, I32, I16, I8)", file, name,
       tensor);
}

// The deepest nesting of arrays and objects in `text`, scanning at most until `limit` is passed.
// This runs before nlohmann builds a tree, because a tree of a deeply nested document costs
// about 40 times its size in memory.
int json_depth(std::string_view text, int limit) {
  int depth = 0;
  int max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size() && max_depth <= limit; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

// Parses `text` as JSON after bounding its depth. With `unique_top_keys`, a key repeated in the
// top-level object is an error (nlohmann would silently keep the last one, hiding a duplicate
// tensor).
json parse_json(std::string_view text, std::string_view file, std::string_view what, bool unique_top_keys) {
  const int limit = SafetensorsLimits::kMaxJsonDepth;
  PONDER_CHECK(json_depth(text, limit) <= limit, "{}: {} nests JSON deeper than the limit of {} levels", file, what,
               limit);
  std::unordered_set<std::string> keys;
  json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (unique_top_keys && event == json::parse_event_t::key && depth == 1) {
      const auto& key = parsed.get_ref<const std::string&>();
      PONDER_CHECK(keys.insert(key).second, "{}: {} names tensor '{}' twice", file, what, key);
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), on_event);
  } catch (const json::exception& e) {
    fail("{}: {} is not valid JSON: {}", file, what, e.what());
  }
}

uint64_t json_u64(const json& v, std::string_view file, const std::string& tensor, std::string_view field) {
  PONDER_CHECK(v.is_number_unsigned(), "{}: tensor '{}' {} holds {}, expected a non-negative integer", file, tensor,
               field, v.dump());
  return v.get<uint64_t>();
}

std::vector<int64_t> parse_shape(const json& shape, std::string_view file, const std::string& tensor) {
  PONDER_CHECK(shape.is_array(), "{}: tensor '{}' shape is not an array", file, tensor);
  PONDER_CHECK(shape.size() <= SafetensorsLimits::kMaxDims, "{}: tensor '{}' has {} dimensions (the limit is {})", file,
               tensor, shape.size(), SafetensorsLimits::kMaxDims);
  std::vector<int64_t> out;
  int64_t n = 1;
  for (const json& d : shape) {
    const uint64_t dim = json_u64(d, file, tensor, "shape");
    PONDER_CHECK(dim != 0, "{}: tensor '{}' has a zero dimension in shape {}; empty tensors are not supported", file,
                 tensor, shape.dump());
    PONDER_CHECK(dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                     !__builtin_mul_overflow(n, static_cast<int64_t>(dim), &n),
                 "{}: tensor '{}' shape {} has more elements than fit in 64 bits", file, tensor, shape.dump());
    out.push_back(static_cast<int64_t>(dim));
  }
  return out;
}

struct ParsedTensor {
  TensorInfo info;
  uint64_t begin = 0;  // offsets in the data section
  uint64_t end = 0;
};

ParsedTensor parse_entry(const std::string& name, const json& entry, std::string_view file, uint64_t data_start,
                         uint64_t data_size) {
  PONDER_CHECK(!name.empty(), "{}: the header names a tensor with an empty name", file);
  PONDER_CHECK(entry.is_object(), "{}: tensor '{}' entry is not a JSON object", file, name);
  const auto dtype_it = entry.find("dtype");
  const auto shape_it = entry.find("shape");
  const auto offsets_it = entry.find("data_offsets");
  PONDER_CHECK(dtype_it != entry.end() && dtype_it->is_string(), "{}: tensor '{}' has no dtype string", file, name);
  PONDER_CHECK(shape_it != entry.end(), "{}: tensor '{}' has no shape", file, name);
  PONDER_CHECK(offsets_it != entry.end() && offsets_it->is_array() && offsets_it->size() == 2,
               "{}: tensor '{}' data_offsets is not an array of two integers", file, name);
  ParsedTensor t;
  t.info.name = name;
  t.info.dtype = dtype_from_safetensors(file, name, dtype_it->get_ref<const std::string&>());
  t.info.shape = parse_shape(*shape_it, file, name);
  t.begin = json_u64((*offsets_it)[0], file, name, "data_offsets");
  t.end = json_u64((*offsets_it)[1], file, name, "data_offsets");
  try {
    t.info.n_bytes = dtype_bytes(t.info.dtype, t.info.n_elements());
  } catch (const Error& e) {
    fail("{}: tensor '{}': {}", file, name, e.what());
  }
  PONDER_CHECK(t.begin <= t.end && t.end <= data_size,
               "{}: tensor '{}' data_offsets [{}, {}] are out of range (the data section holds {} bytes)", file, name,
               t.begin, t.end, data_size);
  PONDER_CHECK(t.end - t.begin == t.info.n_bytes,
               "{}: tensor '{}' data_offsets [{}, {}] span {} bytes but {} shape {} needs {}", file, name, t.begin,
               t.end, t.end - t.begin, dtype_name(t.info.dtype), shape_it->dump(), t.info.n_bytes);
  const uint64_t elem_bytes = static_cast<uint64_t>(dtype_info(t.info.dtype).block_bytes);
  PONDER_CHECK((data_start + t.begin) % elem_bytes == 0,
               "{}: tensor '{}' starts at file offset {}, not a multiple of its {}-byte element size (files written "
               "before safetensors 0.3 lack header padding; re-save the file)",
               file, name, data_start + t.begin, elem_bytes);
  return t;
}

// Sorts by position in the file and refuses any two byte ranges that overlap.
void check_no_overlap(std::vector<ParsedTensor>& tensors, std::string_view file) {
  std::sort(tensors.begin(), tensors.end(), [](const ParsedTensor& a, const ParsedTensor& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.info.name < b.info.name;
  });
  for (size_t i = 1; i < tensors.size(); ++i) {
    const ParsedTensor& a = tensors[i - 1];
    const ParsedTensor& b = tensors[i];
    PONDER_CHECK(b.begin >= a.end, "{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", file, a.info.name, a.begin,
                 a.end, b.info.name, b.begin, b.end);
  }
}

// A shard named in an index must be a plain file in the index's folder: a name like
// "../../etc/passwd" or "/abs/path" would make a downloaded index read files anywhere.
void check_shard_name(std::string_view file, const std::string& tensor, const std::string& shard) {
  const bool plain = !shard.empty() && shard.find('/') == std::string::npos && shard.find('\\') == std::string::npos &&
                     shard.find('\0') == std::string::npos && shard.find("..") == std::string::npos && shard != ".";
  PONDER_CHECK(plain, "{}: shard name '{}' for tensor '{}' is not a plain file name inside the folder", file, shard,
               tensor);
}

std::string parent_folder(const std::string& path) {
  std::string folder = fs::path(path).parent_path().string();
  return folder.empty() ? std::string(".") : folder;
}

}  // namespace

std::vector<TensorInfo> parse_safetensors(std::span<const uint8_t> bytes, std::string_view file) {
  const uint64_t size = bytes.size();
  PONDER_CHECK(size >= 8, "{}: truncated: {} bytes cannot hold the 8-byte header length", file, size);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), 8);  // little-endian, as is the host (checked in io)
  PONDER_CHECK(header_bytes <= SafetensorsLimits::kMaxHeaderBytes, "{}: header of {} bytes exceeds the {} MiB limit",
               file, header_bytes, SafetensorsLimits::kMaxHeaderBytes >> 20);
  PONDER_CHECK(header_bytes <= size - 8, "{}: header of {} bytes extends past end of file ({} bytes)", file,
               header_bytes, size);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), static_cast<size_t>(header_bytes));
  const json header = parse_json(text, file, "header", /*unique_top_keys=*/true);
  PONDER_CHECK(header.is_object(), "{}: header is not a JSON object", file);
  const uint64_t data_start = 8 + header_bytes;
  std::vector<ParsedTensor> parsed;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;  // free-form strings; Ponder needs none of them
    parsed.push_back(parse_entry(name, entry, file, data_start, size - data_start));
  }
  check_no_overlap(parsed, file);
  std::vector<TensorInfo> out;
  out.reserve(parsed.size());
  for (ParsedTensor& t : parsed) {
    t.info.data = bytes.data() + data_start + t.begin;
    out.push_back(std::move(t.info));
  }
  return out;
}

SafetensorsIndex parse_safetensors_index(std::string_view json_text, std::string_view file) {
  const json index = parse_json(json_text, file, "index", /*unique_top_keys=*/false);
  PONDER_CHECK(index.is_object(), "{}: index is not a JSON object", file);
  const auto map_it = index.find("weight_map");
  PONDER_CHECK(map_it != index.end() && map_it->is_object(), "{}: index has no \"weight_map\" object", file);
  PONDER_CHECK(!map_it->empty(), "{}: weight_map is empty", file);
  SafetensorsIndex out;
  std::unordered_set<std::string> seen;
  for (const auto& [tensor, shard] : map_it->items()) {
    PONDER_CHECK(shard.is_string(), "{}: weight_map entry for tensor '{}' is not a file name", file, tensor);
    const auto& name = shard.get_ref<const std::string&>();
    check_shard_name(file, tensor, name);
    if (seen.insert(name).second) out.shards.push_back(name);
    out.weight_map.emplace_back(tensor, name);
  }
  return out;
}

nlohmann::json read_json_file(const std::string& path, uint64_t max_bytes) {
  const MappedFile file(path);
  PONDER_CHECK(file.size() <= max_bytes, "{}: {} bytes exceeds the {} MiB limit for this file", path, file.size(),
               max_bytes >> 20);
  const std::string_view text(reinterpret_cast<const char*>(file.data()), static_cast<size_t>(file.size()));
  return parse_json(text, path, "file", /*unique_top_keys=*/false);
}

TensorStore open_safetensors(const std::vector<std::string>& files, const std::string& folder) {
  PONDER_CHECK(!files.empty(), "no safetensors files to open in {}", folder);
  TensorStore store;
  store.format_ = StoreFormat::Safetensors;
  store.path_ = files.size() == 1 ? files[0] : folder;
  store.folder_ = folder;
  for (const std::string& path : files) {
    store.files_.push_back(std::make_unique<MappedFile>(path));
    for (TensorInfo& t : parse_safetensors(store.files_.back()->bytes(), path)) store.add_tensor(std::move(t));
  }
  const fs::path config = fs::path(folder) / "config.json";
  if (fs::is_regular_file(config)) {
    store.hf_config_ = read_json_file(config.string(), SafetensorsLimits::kMaxConfigBytes);
    PONDER_CHECK(store.hf_config_.is_object(), "{}: config is not a JSON object", config.string());
  }
  return store;
}

TensorStore open_safetensors_index(const std::string& index_path) {
  const std::string folder = parent_folder(index_path);
  const MappedFile index_file(index_path);
  PONDER_CHECK(index_file.size() <= SafetensorsLimits::kMaxIndexBytes, "{}: index of {} bytes exceeds the {} MiB limit",
               index_path, index_file.size(), SafetensorsLimits::kMaxIndexBytes >> 20);
  const SafetensorsIndex index = parse_safetensors_index(
      std::string_view(reinterpret_cast<const char*>(index_file.data()), index_file.size()), index_path);
  std::vector<std::string> paths;
  for (const std::string& shard : index.shards) {
    const fs::path p = fs::path(folder) / shard;
    if (!fs::is_regular_file(p)) {
      const auto& [tensor, _] = *std::find_if(index.weight_map.begin(), index.weight_map.end(),
                                              [&](const auto& entry) { return entry.second == shard; });
      fail("{}: shard '{}' (holding tensor '{}') does not exist in {}", index_path, shard, tensor, folder);
    }
    paths.push_back(p.string());
  }
  TensorStore store = open_safetensors(paths, folder);
  store.path_ = index_path;
  for (const auto& [tensor, shard] : index.weight_map) {
    const TensorInfo* t = store.find(tensor);
    PONDER_CHECK(t != nullptr, "{}: tensor '{}' is mapped to shard '{}' but is not in it", index_path, tensor, shard);
    const MappedFile* holder = store.file_of(*t);
    PONDER_CHECK(holder != nullptr && fs::path(holder->path()).filename() == shard,
                 "{}: tensor '{}' is mapped to shard '{}' but is in '{}'", index_path, tensor, shard,
                 holder == nullptr ? std::string("no file") : holder->path());
  }
  return store;
}

TensorStore open_hf_folder(const std::string& folder) {
  const fs::path dir(folder);
  PONDER_CHECK(fs::is_regular_file(dir / "config.json"), "{}: not a Hugging Face model folder (it has no config.json)",
               folder);
  if (fs::is_regular_file(dir / "model.safetensors.index.json")) {
    return open_safetensors_index((dir / "model.safetensors.index.json").string());
  }
  PONDER_CHECK(fs::is_regular_file(dir / "model.safetensors"),
               "{}: the folder holds neither model.safetensors nor model.safetensors.index.json", folder);
  return open_safetensors({(dir / "model.safetensors").string()}, folder);
}

}  // namespace ponder
