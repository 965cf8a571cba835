// TensorStore: every tensor of a model, whatever file it came from (a GGUF file, one or several
// safetensors files, a Hugging Face folder), as typed views into memory-mapped files.
//
// Invariants: every TensorInfo's bytes lie inside its mapped file, are aligned as the format
// promises, and match dtype × shape exactly; names are unique. All of this is checked at open, so
// users of a TensorStore never re-check. Opening costs one pass over the headers (no weight reads).
//
// Shapes are outermost-first, as in numpy/PyTorch: a linear layer's weight is (n_out, n_in) and
// rows are contiguous. (GGUF lists dimensions innermost-first; the reader reverses them.)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "io/gguf_metadata.h"

namespace ponder {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first; the last dimension is contiguous
  const uint8_t* data = nullptr;
  uint64_t n_bytes = 0;

  int64_t n_elements() const;
  int64_t n_rows() const { return shape.empty() ? 1 : n_elements() / shape.back(); }
  int64_t row_length() const { return shape.empty() ? 1 : shape.back(); }
  uint64_t row_bytes() const { return n_rows() == 0 ? 0 : n_bytes / static_cast<uint64_t>(n_rows()); }
};

enum class StoreFormat { Gguf, Safetensors };

class TensorStore {
 public:
  // Opens a .gguf file, a .safetensors file, a model.safetensors.index.json, or a folder holding
  // config.json and safetensors (single or sharded). Throws ponder::Error naming the file and the
  // problem for anything malformed.
  static TensorStore open(const std::string& path);

  StoreFormat format() const { return format_; }
  const std::string& path() const { return path_; }

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  const TensorInfo& get(std::string_view name) const;  // throws "tensor 'x' not found in <path>"

  // GGUF key-value metadata (empty for safetensors).
  const GgufMetadata& gguf() const { return gguf_; }
  // The Hugging Face config.json next to safetensors (null JSON when absent or for GGUF).
  const nlohmann::json& hf_config() const { return hf_config_; }
  // The folder holding the model's files (for tokenizer.json and friends).
  const std::string& folder() const { return folder_; }

  // Total bytes of all mapped files.
  uint64_t file_bytes() const;

  // For readers: add a tensor after checking it (name unique, bytes within `file`).
  void add_tensor(TensorInfo info);

  // The mapped files, in the order they were opened (one for GGUF, one per safetensors shard).
  const std::vector<std::unique_ptr<MappedFile>>& files() const { return files_; }
  // The mapped file holding t's bytes (which shard a tensor lives in), or nullptr if none does.
  const MappedFile* file_of(const TensorInfo& t) const;

 private:
  friend TensorStore open_gguf(const std::string& path);
  friend TensorStore open_safetensors(const std::vector<std::string>& files, const std::string& folder);
  friend TensorStore open_safetensors_index(const std::string& index_path);

  StoreFormat format_ = StoreFormat::Gguf;
  std::string path_;
  std::string folder_;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  GgufMetadata gguf_;
  nlohmann::json hf_config_;
};

}  // namespace ponder
