// The CPU backend's kernel table: one per instruction set (kernels_avx2.cpp, kernels_avx512.cpp,
// kernels_avx512vnni.cpp, each compiled with its own -m flags), chosen once at start-up. The
// table holds plain function pointers so that nothing compiled with wide-vector flags runs before
// the CPU has been checked; the ISA files define no global constructors.
//
// Layouts the kernels read (weights repacked at upload, see repack.h; activations quantized per
// call into the formats below):
//   A8  (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL): per row int8 q[n_in], float d[n_in/32], float s[n_in/32] with
//       x ≈ d·q per block of 32 and s = d·Σq (for the weights' offsets and minimums).
//   A16 (Q8_0 without VNNI): per row int16 q[n_in], float d[n_in/32]; x ≈ d·q with |q| ≤ 32767, so
//       Q8_0 weights meet almost exact activations (int16 madd costs what the int8 sign trick would).
//       With VNNI, Q8_0 reads A8 (KernelTable::q8_0_act): vpdpbusd of the weights + 128 (unsigned)
//       and int8 activations, in int32 without saturation, is twice vpdpwssd's rate.
//   AK  (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS, IQ3_S,
//       IQ3_XXS, IQ2_S, IQ2_XS, IQ2_XXS, IQ1_S, IQ1_M): per row int8 q[n_in], float d[n_in/256], int16 bsum16[n_in/16],
//       int16 bsum32[n_in/32] (sums of q over 16 and 32 elements, for the minimums and offsets).
//   F32 (F32, F16, BF16): the float activations themselves.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/cpu/cpu_features.h"
#include "quant/iq_grids.h"  // declarations and constants only

namespace ponder::cpu {

enum class ActFormat { F32, A8, A16, AK };

// IQ4_NL's and IQ4_XS's grid (quant::kIq4nlValues; cpu_backend.cpp checks they agree). Repeated
// here because the ISA files may not include quant/blocks.h, whose inline functions would be
// compiled with their -m flags.
inline constexpr int8_t kIq4Grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Bytes of one quantized activation row of n_in elements.
inline int64_t act_row_bytes(ActFormat f, int64_t n_in) {
  switch (f) {
    case ActFormat::F32: return n_in * 4;
    case ActFormat::A8: return n_in + (n_in / 32) * 8;
    case ActFormat::A16: return n_in * 2 + (n_in / 32) * 4;
    case ActFormat::AK: return n_in + (n_in / 256) * 4 + (n_in / 16) * 2 + (n_in / 32) * 2;
  }
  return 0;
}

// One matmul over repacked weights: y (n_rows, n_out) = act · wᵀ.
struct MatmulArgs {
  DType dtype = DType::F32;
  const uint8_t* packed = nullptr;  // repacked weights (repack.h)
  int64_t group_bytes = 0;          // bytes of one group of R rows in `packed`
  int64_t n_in = 0;
  int64_t n_out = 0;
  const uint8_t* act = nullptr;     // n_rows activation rows in the dtype's ActFormat
  int64_t act_stride = 0;           // bytes from one activation row to the next
  int64_t n_rows = 0;
  float* y = nullptr;               // (n_rows, n_out)
};

// Attention for a tile of consecutive tokens of one sequence against one KV head: the query heads
// of that KV head's group, all tokens of the tile, one pass over the KV blocks (online softmax).
struct AttentionTask {
  const void* k = nullptr;          // the layer's K cache, [block][kv_head][slot][head_dim]
  const void* v = nullptr;
  DType kv_dtype = DType::F32;      // F32, F16 or Q8_0 (rows of head_dim / 32 BlockQ8_0)
  int64_t block_size = 0, n_kv_heads = 0, head_dim = 0;
  const int32_t* block_table = nullptr;  // the sequence's blocks, already range-checked
  const int32_t* positions = nullptr;    // (n_tokens) of this tile, increasing
  int64_t n_tokens = 0;
  int64_t kv_head = 0;
  int64_t group = 0;                // query heads per KV head
  const float* q = nullptr;         // first token's row: (n_tokens, n_heads, head_dim) with stride q_stride
  float* out = nullptr;
  int64_t row_stride = 0;           // floats from one token's q (and out) row to the next
  float scale = 1.0f;
  float* scratch = nullptr;         // attention_scratch_floats(...) floats (the kernel aligns within)
};

// Floats of scratch one attention task of n_rows query rows needs (kernels_attention_impl.h: the
// larger of its two layouts, rows padded to vectors of up to 16 lanes, plus 64-byte alignment).
inline int64_t attention_scratch_floats(int64_t n_rows, int64_t head_dim, int64_t block_size) {
  const int64_t rows = (n_rows + 15) / 16 * 16;
  const int64_t bsp = (block_size + 15) / 16 * 16;
  return rows * (2 * head_dim + 4 + bsp) + 2 * block_size * head_dim + head_dim * bsp + 32 * block_size + 6 * 16;
}

struct KernelTable {
  Isa isa;
  int rows_per_group;  // R: weight rows interleaved per group in the repacked layouts
  ActFormat q8_0_act;  // the activations Q8_0 weights meet: A16, or A8 with VNNI
  // Quantizes one row of n_in floats into format f (not F32).
  void (*quantize)(ActFormat f, const float* x, int64_t n_in, uint8_t* out);
  // Computes output row groups [g_begin, g_end) (rows g·R .. g·R + R - 1) for every activation row.
  void (*matmul)(const MatmulArgs& a, int64_t g_begin, int64_t g_end);
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*rms_norm)(const float* x, const float* w, float* y, int64_t dim, float eps);
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n);
  void (*add)(float* x, const float* y, int64_t n);
  // Rotates one token's heads in place; cs holds (cos, sin) pairs for each of the head_dim/2 pairs.
  void (*rope)(float* x, int64_t n_heads, int64_t head_dim, const float* cs, bool interleaved);
  void (*to_f16)(const float* x, uint16_t* out, int64_t n);
  // Quantizes n (a multiple of 32) floats into n / 32 BlockQ8_0 (the KV cache's q8_0 rows), the
  // same bytes as quant::quantize_row(Q8_0, ...).
  void (*to_q8_0)(const float* x, uint8_t* out, int64_t n);
  void (*attention)(const AttentionTask& t);
  // Machine ceilings for `ponder bench`: reads `bytes` (a multiple of 256) with wide loads and
  // returns a checksum; runs `iters` rounds of the prefill kernels' int8 instruction mix in
  // registers and returns the multiply-adds done.
  int64_t (*probe_read)(const uint8_t* p, int64_t bytes);
  int64_t (*probe_int8)(int64_t iters);
};

const KernelTable& kernels_avx2();
const KernelTable& kernels_avx512();
const KernelTable& kernels_avx512vnni();
const KernelTable& kernels_for(Isa isa);

}  // namespace ponder::cpu
