// GgufWriter: builds a GGUF v3 file (metadata of every type, tensors with their bytes, any
// power-of-two alignment) for `ponder quantize`, synthetic test models and fuzz seeds.
//
// Invariants: everything added is checked when added (a value's type tag matches its variant and
// range, arrays nest at most GgufLimits::kMaxArrayDepth deep, tensor names are unique, a tensor
// has 1..4 nonzero dimensions and exactly dtype_bytes(shape) bytes; a repeated key replaces the
// old value), and the total of array items is checked when writing, so the writer cannot produce
// a file that parse_gguf refuses (the GGUF fuzzer checks this on every file it parses).
// Cost: write() streams the header and then each tensor in order, holding at most one tensor's
// bytes at a time for add_tensor_fill (the others are already in memory); it writes to
// "<path>.tmp" and renames, so a failed write never leaves a plausible-looking file behind.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/gguf_metadata.h"

namespace ponder {

class GgufWriter {
 public:
  // Fills `out` (exactly the tensor's byte size) with the tensor's bytes, called once by write().
  using FillFn = std::function<void(std::span<uint8_t> out)>;

  GgufWriter() = default;

  // A nonzero power of two; stored as the u32 key general.alignment unless it is the default 32.
  void set_alignment(uint32_t alignment);
  uint32_t alignment() const { return alignment_; }

  // Adds or replaces a key. Setting general.alignment (a u32) is the same as set_alignment.
  void set(std::string key, GgufValue value);
  // Copies every entry of `metadata` (as set() would), e.g. from a file being re-quantized.
  void set_all(const GgufMetadata& metadata);
  const GgufMetadata& metadata() const { return metadata_; }

  // Shapes are outermost-first, as in TensorInfo; the writer reverses them for the file.
  // add_tensor owns a copy of the bytes; add_tensor_view keeps only the span, which must stay
  // valid until write() or to_bytes() returns; add_tensor_fill produces the bytes while writing.
  void add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
  void add_tensor_view(std::string name, DType dtype, std::vector<int64_t> shape, std::span<const uint8_t> bytes);
  void add_tensor_fill(std::string name, DType dtype, std::vector<int64_t> shape, FillFn fill);
  size_t n_tensors() const { return tensors_.size(); }

  // Writes the file; throws ponder::Error naming the path on any I/O failure.
  void write(const std::string& path) const;
  // The whole file in memory (tests, fuzz seeds, small synthetic models).
  std::vector<uint8_t> to_bytes() const;

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t n_bytes = 0;
    std::vector<uint8_t> owned;
    std::span<const uint8_t> view;
    FillFn fill;
  };
  using Sink = std::function<void(const void* data, size_t n)>;

  Tensor& new_tensor(std::string name, DType dtype, std::vector<int64_t> shape);
  void write_to(const Sink& sink) const;

  uint32_t alignment_ = 32;
  GgufMetadata metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace ponder
