// Element types of tensors. The numeric values are GGML's type ids, so a GGUF tensor's type field
// maps onto DType without a table. Quantized types store `block_elems` elements in `block_bytes`
// bytes; a row's length must be a multiple of block_elems.
#pragma once

#include <cstdint>
#include <string_view>

namespace ponder {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
};

struct DTypeInfo {
  std::string_view name;   // as llama.cpp prints it: "f32", "q4_K", ...
  int64_t block_elems;     // elements per block (1 for plain types)
  int64_t block_bytes;     // bytes per block
  bool quantized;
};

// Info for a GGML type id, or nullptr if Ponder does not know the id (the caller names the tensor).
const DTypeInfo* dtype_info(uint32_t type_id);
const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }

// Bytes taken by n elements of type t; throws ponder::Error if n is not a multiple of the block
// size or the byte count overflows.
uint64_t dtype_bytes(DType t, int64_t n);

// Parses a name as printed by dtype_name ("q4_k" and "Q4_K" both accepted); throws if unknown.
DType dtype_from_name(std::string_view name);

}  // namespace ponder
