// Readers for the reference vectors in tests/unit/quant/data, written by
// tools/make_quant_vectors.py (its docstring defines the formats). The references come from
// gguf-py, numpy, torch and ggml, never from Ponder. Each reader checks the magic, version and
// sizes and throws std::runtime_error naming the file if anything is off.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace ponder::quant::test {

inline std::string data_path(const std::string& name) { return PONDER_TEST_DATA "/unit/quant/data/" + name; }

// Sequential little-endian reader over a whole file held in memory.
class ByteReader {
 public:
  explicit ByteReader(const std::string& path) : path_(path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path + " (run tools/make_quant_vectors.py)");
    bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  void expect_magic(const char magic[4]) {
    if (read_bytes(4) != std::vector<uint8_t>(magic, magic + 4)) fail_read("bad magic");
    if (read_u32() != 1) fail_read("unsupported version");
  }

  uint32_t read_u32() { return read_scalar<uint32_t>(); }
  uint64_t read_u64() { return read_scalar<uint64_t>(); }

  std::vector<uint8_t> read_bytes(size_t n) {
    need(n);
    std::vector<uint8_t> out(bytes_.begin() + static_cast<std::ptrdiff_t>(pos_),
                             bytes_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return out;
  }

  template <class T>
  std::vector<T> read_array(size_t n) {
    need(n * sizeof(T));
    std::vector<T> out(n);
    std::memcpy(out.data(), bytes_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
    return out;
  }

  void expect_end() {
    if (pos_ != bytes_.size()) fail_read("trailing bytes");
  }

 private:
  template <class T>
  T read_scalar() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  void need(size_t n) {
    if (bytes_.size() - pos_ < n) fail_read("truncated");
  }
  [[noreturn]] void fail_read(const char* what) { throw std::runtime_error(path_ + ": " + what); }

  std::string path_;
  std::vector<uint8_t> bytes_;
  size_t pos_ = 0;
};

// Random blocks of one type and gguf-py's float32 dequantization of them.
struct DequantVectors {
  DType type;
  int64_t n_elems;
  std::vector<uint8_t> blocks;  // (n_bytes)
  std::vector<float> expected;  // (n_elems)
};

inline DequantVectors read_dequant_vectors(const std::string& type_name) {
  ByteReader r(data_path("dequant_" + type_name + ".bin"));
  r.expect_magic("PQDQ");
  DequantVectors v;
  v.type = static_cast<DType>(r.read_u32());
  v.n_elems = r.read_u32();
  const uint32_t n_bytes = r.read_u32();
  v.blocks = r.read_bytes(n_bytes);
  v.expected = r.read_array<float>(static_cast<size_t>(v.n_elems));
  r.expect_end();
  return v;
}

enum class RefSource : uint32_t { None = 0, GgufPy = 1, Ggml = 2 };

// Float rows and the reference quantizer's bytes for them (absent when source is None).
struct QuantVectors {
  DType type;
  int64_t n_rows;
  int64_t n_per_row;
  RefSource source;
  std::vector<float> inputs;       // (n_rows, n_per_row)
  std::vector<uint8_t> expected;   // (n_rows, row bytes), or empty
};

inline QuantVectors read_quant_vectors(const std::string& type_name) {
  ByteReader r(data_path("quant_" + type_name + ".bin"));
  r.expect_magic("PQQU");
  QuantVectors v;
  v.type = static_cast<DType>(r.read_u32());
  v.n_rows = r.read_u32();
  v.n_per_row = r.read_u32();
  v.source = static_cast<RefSource>(r.read_u32());
  const uint32_t n_ref_bytes = r.read_u32();
  v.inputs = r.read_array<float>(static_cast<size_t>(v.n_rows * v.n_per_row));
  v.expected = r.read_bytes(n_ref_bytes);
  r.expect_end();
  return v;
}

// The bulk check: the generator seed and shape (fuzz_rows.h) and the reference quantizer's
// FNV-1a-32 hash of each quantized row (empty when source is None).
struct FuzzVectors {
  DType type;
  uint64_t seed;
  int64_t n_rows;
  int64_t n_per_row;
  RefSource source;
  std::vector<uint32_t> row_hashes;  // (n_rows)
};

inline FuzzVectors read_fuzz_vectors(const std::string& type_name) {
  ByteReader r(data_path("quant_fuzz_" + type_name + ".bin"));
  r.expect_magic("PQFZ");
  FuzzVectors v;
  v.type = static_cast<DType>(r.read_u32());
  v.seed = r.read_u64();
  v.n_rows = r.read_u32();
  v.n_per_row = r.read_u32();
  v.source = static_cast<RefSource>(r.read_u32());
  v.row_hashes = r.read_array<uint32_t>(r.read_u32());
  r.expect_end();
  return v;
}

// f16 / bf16 conversion pairs computed by numpy (f16) and torch (bf16).
struct Fp16Vectors {
  std::vector<uint16_t> h;         // f16 bit patterns
  std::vector<uint32_t> h_as_f32;  // numpy's f32 bits for each
  std::vector<uint32_t> f;         // f32 bit patterns
  std::vector<uint16_t> f_as_f16;  // numpy's astype(float16)
  std::vector<uint16_t> f_as_bf16; // torch's to(bfloat16)
};

inline Fp16Vectors read_fp16_vectors() {
  ByteReader r(data_path("fp16.bin"));
  r.expect_magic("PQHF");
  Fp16Vectors v;
  const uint32_t n_h = r.read_u32();
  v.h = r.read_array<uint16_t>(n_h);
  v.h_as_f32 = r.read_array<uint32_t>(n_h);
  const uint32_t n_f = r.read_u32();
  v.f = r.read_array<uint32_t>(n_f);
  v.f_as_f16 = r.read_array<uint16_t>(n_f);
  v.f_as_bf16 = r.read_array<uint16_t>(n_f);
  r.expect_end();
  return v;
}

}  // namespace ponder::quant::test
