// TensorStore: opening dispatches on what the path is (a folder, a file whose first four bytes are
// "GGUF", a .safetensors file, a .index.json); lookups go through a name index.
//
// Invariant: index_ maps each tensor's name to its position in tensors_, and every tensor's bytes
// lie inside one of files_ (checked again by add_tensor, whoever calls it). Lookups cost one hash;
// opening costs what the format's reader costs (headers only).
#include "io/tensor_store.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "io/gguf_reader.h"
#include "io/safetensors.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;

// True when the file starts with the GGUF magic; a file too short to tell is not GGUF.
bool has_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

int64_t TensorInfo::n_elements() const {
  // Readers and add_tensor check that the product fits; this is the plain product.
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

TensorStore TensorStore::open(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  PONDER_CHECK(!ec && fs::exists(st), "'{}' does not exist", path);
  // Anything but a folder or a regular file (a FIFO, a device) could block or lie about its size.
  PONDER_CHECK(fs::is_directory(st) || fs::is_regular_file(st), "'{}' is neither a regular file nor a folder", path);
  const std::string_view name(path);
  TensorStore store;
  if (fs::is_directory(st)) {
    store = open_hf_folder(path);
  } else if (has_gguf_magic(path) || name.ends_with(".gguf")) {
    // A .gguf name without the magic still goes to the GGUF reader, whose error names the bad magic.
    store = open_gguf(path);
  } else if (name.ends_with(".safetensors")) {
    std::string folder = fs::path(path).parent_path().string();
    store = open_safetensors({path}, folder.empty() ? std::string(".") : folder);
  } else if (name.ends_with(".index.json")) {
    store = open_safetensors_index(path);
  } else {
    fail(
        "'{}': unknown model format (expected a GGUF file, a .safetensors file, a "
        "model.safetensors.index.json, or a Hugging Face model folder)",
        path);
  }
  store.path_ = path;
  return store;
}

const TensorInfo* TensorStore::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& TensorStore::get(std::string_view name) const {
  const TensorInfo* t = find(name);
  PONDER_CHECK(t != nullptr, "tensor '{}' not found in {}", name, path_);
  return *t;
}

uint64_t TensorStore::file_bytes() const {
  uint64_t total = 0;
  for (const auto& f : files_) total += f->size();
  return total;
}

const MappedFile* TensorStore::file_of(const TensorInfo& t) const {
  // Comparing addresses as integers: pointers into different mappings are not comparable with <.
  const auto begin = reinterpret_cast<uintptr_t>(t.data);
  for (const auto& f : files_) {
    const auto base = reinterpret_cast<uintptr_t>(f->data());
    if (f->data() != nullptr && begin >= base && begin - base <= f->size() && t.n_bytes <= f->size() - (begin - base)) {
      return f.get();
    }
  }
  return nullptr;
}

void TensorStore::add_tensor(TensorInfo info) {
  PONDER_CHECK(!info.name.empty(), "{}: a tensor has an empty name", path_);
  PONDER_CHECK(!index_.contains(info.name), "{}: duplicate tensor '{}'", path_, info.name);
  int64_t n = 1;
  for (int64_t d : info.shape) {
    PONDER_CHECK(d > 0 && !__builtin_mul_overflow(n, d, &n), "{}: tensor '{}' has a bad shape [{}]", path_, info.name,
                 fmt::join(info.shape, ", "));
  }
  PONDER_CHECK(info.shape.empty() || info.shape.back() % dtype_info(info.dtype).block_elems == 0,
               "{}: tensor '{}' row length {} is not a multiple of the {} block size", path_, info.name,
               info.shape.back(), dtype_name(info.dtype));
  PONDER_CHECK(info.n_bytes == dtype_bytes(info.dtype, n), "{}: tensor '{}' has {} bytes, but {} {} elements need {}",
               path_, info.name, info.n_bytes, n, dtype_name(info.dtype), dtype_bytes(info.dtype, n));
  PONDER_CHECK(file_of(info) != nullptr, "{}: tensor '{}' bytes lie outside the mapped files", path_, info.name);
  index_.emplace(info.name, tensors_.size());
  tensors_.push_back(std::move(info));
}

}  // namespace ponder
