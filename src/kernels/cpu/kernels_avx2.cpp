// AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c; see CMakeLists.txt). R = 8 rows per
// weight group (one int32 lane each of a 256-bit register). The int8 dot product is vpmaddubsw
// (u8 weight × s8 activation → int16 pairs, summed in int16 while no sum can saturate) then
// vpmaddwd by the sub-block scale (or by 1). Only the primitives live here; the kernels are the
// ISA-independent templates of kernels_impl.h. Nothing here may run before the CPU is checked, so
// there are no global constructors, and everything is in an anonymous namespace.
#include <immintrin.h>

#include <type_traits>
#include <utility>

#include <cstdint>
#include <cstring>

#include "kernels/cpu/kernels.h"

// Kernels are templates over these primitives; every call must inline, or vector arguments go
// through memory (GCC otherwise outlines e.g. a dot product called from 16 places).
#define PONDER_AI inline __attribute__((always_inline))

namespace ponder::cpu {
namespace {
namespace isa {

constexpr int R = 8;
constexpr Isa kIsa = Isa::Avx2;
using vi = __m256i;
using vf = __m256;

PONDER_AI vi loadv(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
PONDER_AI void storev(void* p, vi v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }
PONDER_AI vi bcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}
// 16 bytes in every 128-bit lane (a shuf8 lookup table).
PONDER_AI vi bcast16(const void* p) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(static_cast<const __m128i*>(p)));
}
PONDER_AI vi zx16to32(const void* p) { return _mm256_cvtepu16_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p))); }
PONDER_AI vi zx8to32(const void* p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(p))); }
// Grid lookups of the IQ kernels: R uint32 of a table (every Stride-th), row by row into the
// vector, with the indices computed in scalar registers. On Zen 3 this is faster than vpgatherdd:
// kernel_bench IQ3_XXS matmuls 1.6x (decode and batches of 16).
PONDER_AI vi lookup_rows(const uint32_t* table, const uint32_t* i) {
  __m128i lo = _mm_cvtsi32_si128(static_cast<int>(table[i[0]]));
  lo = _mm_insert_epi32(lo, static_cast<int>(table[i[1]]), 1);
  lo = _mm_insert_epi32(lo, static_cast<int>(table[i[2]]), 2);
  lo = _mm_insert_epi32(lo, static_cast<int>(table[i[3]]), 3);
  __m128i hi = _mm_cvtsi32_si128(static_cast<int>(table[i[4]]));
  hi = _mm_insert_epi32(hi, static_cast<int>(table[i[5]]), 1);
  hi = _mm_insert_epi32(hi, static_cast<int>(table[i[6]]), 2);
  hi = _mm_insert_epi32(hi, static_cast<int>(table[i[7]]), 3);
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}
// table[idx] for each int32 lane (kOneRow: the tile has one activation row; the AVX-512 kernels
// gather otherwise).
template <bool kOneRow>
PONDER_AI vi lookup32(const uint32_t* table, vi idx) {
  alignas(32) uint32_t i[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(i), idx);
  return lookup_rows(table, i);
}
// table[Stride * idx[r]] for R index bytes.
template <int Stride>
PONDER_AI vi lookup8(const uint32_t* table, const uint8_t* idx) {
  uint64_t v;
  std::memcpy(&v, idx, 8);
  uint32_t i[8];
  for (int r = 0; r < 8; ++r) i[r] = Stride * (static_cast<uint32_t>(v >> (8 * r)) & 255);
  return lookup_rows(table, i);
}
// table[Stride * (p[r] & mask)] for R uint16 p.
template <int Stride>
PONDER_AI vi lookup16(const uint32_t* table, const uint8_t* p, uint32_t mask) {
  uint64_t a, b;
  std::memcpy(&a, p, 8);
  std::memcpy(&b, p + 8, 8);
  uint32_t i[8];
  for (int r = 0; r < 4; ++r) {
    i[r] = Stride * (static_cast<uint32_t>(a >> (16 * r)) & mask);
    i[r + 4] = Stride * (static_cast<uint32_t>(b >> (16 * r)) & mask);
  }
  return lookup_rows(table, i);
}
// 0xff in each byte where a == b, else 0.
PONDER_AI vi cmpeq8(vi a, vi b) { return _mm256_cmpeq_epi8(a, b); }
PONDER_AI vi abs8(vi a) { return _mm256_abs_epi8(a); }
// a with the sign of w applied (negated where w < 0; zero where w == 0).
PONDER_AI vi sign8(vi a, vi w) { return _mm256_sign_epi8(a, w); }
PONDER_AI vi zeroi() { return _mm256_setzero_si256(); }
PONDER_AI vi set1_8(char v) { return _mm256_set1_epi8(v); }
PONDER_AI vi set1_16(short v) { return _mm256_set1_epi16(v); }
PONDER_AI vi set1_32(int v) { return _mm256_set1_epi32(v); }
PONDER_AI vi and_v(vi a, vi b) { return _mm256_and_si256(a, b); }
PONDER_AI vi or_v(vi a, vi b) { return _mm256_or_si256(a, b); }
PONDER_AI vi xor_v(vi a, vi b) { return _mm256_xor_si256(a, b); }
template <int N> PONDER_AI vi srl16(vi a) { return _mm256_srli_epi16(a, N); }
template <int N> PONDER_AI vi sll16(vi a) { return _mm256_slli_epi16(a, N); }
template <int N> PONDER_AI vi srl32(vi a) { return _mm256_srli_epi32(a, N); }
template <int N> PONDER_AI vi sll32(vi a) { return _mm256_slli_epi32(a, N); }
PONDER_AI vi add8(vi a, vi b) { return _mm256_add_epi8(a, b); }
PONDER_AI vi add16(vi a, vi b) { return _mm256_add_epi16(a, b); }
PONDER_AI vi add32(vi a, vi b) { return _mm256_add_epi32(a, b); }
PONDER_AI vi sub16(vi a, vi b) { return _mm256_sub_epi16(a, b); }
PONDER_AI vi sub32(vi a, vi b) { return _mm256_sub_epi32(a, b); }
PONDER_AI vi mul32(vi a, vi b) { return _mm256_mullo_epi32(a, b); }
PONDER_AI vi madd16(vi a, vi b) { return _mm256_madd_epi16(a, b); }
// acc + madd16(a, b).
PONDER_AI vi madd16_add(vi acc, vi a, vi b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
PONDER_AI vi shuf8(vi a, vi m) { return _mm256_shuffle_epi8(a, m); }
// Low int16 of each int32 lane from lo, high int16 from hi.
PONDER_AI vi blend_hi16(vi lo, vi hi) { return _mm256_blend_epi16(lo, hi, 0xAA); }
PONDER_AI vi sx8to32(const void* p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(p))); }
PONDER_AI vi sx8to16(const void* p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128(static_cast<const __m128i*>(p))); }
// A shuffle mask, the same in every 128-bit lane: dword k gets bytes b0..b3 of dword k (0x80: zero).
PONDER_AI vi dword_mask(int b0, int b1, int b2, int b3) {
  auto m = [](int b, int k) { return static_cast<char>(b < 0 ? 0x80 : 4 * k + b); };
  return _mm256_setr_epi8(m(b0, 0), m(b1, 0), m(b2, 0), m(b3, 0), m(b0, 1), m(b1, 1), m(b2, 1), m(b3, 1), m(b0, 2),
                          m(b1, 2), m(b2, 2), m(b3, 2), m(b0, 3), m(b1, 3), m(b2, 3), m(b3, 3), m(b0, 0), m(b1, 0),
                          m(b2, 0), m(b3, 0), m(b0, 1), m(b1, 1), m(b2, 1), m(b3, 1), m(b0, 2), m(b1, 2), m(b2, 2),
                          m(b3, 2), m(b0, 3), m(b1, 3), m(b2, 3), m(b3, 3));
}
PONDER_AI int32_t hsum_i(vi v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}
// out[j] = the sum of the 16 int8 q[16j..16j+15], for j < 16: sums of four bytes per int32 lane,
// then the four lanes of each 128-bit lane added across four vectors at once (lane 4L + k: group
// 2k + L of the eight the vectors hold), put in order.
PONDER_AI void group16_sums(const int8_t* q, int16_t* out) {
  vi w[2];
  for (int h = 0; h < 2; ++h) {
    vi v[4];
    for (int k = 0; k < 4; ++k) {
      v[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), loadv(q + 128 * h + 32 * k)),
                               _mm256_set1_epi16(1));
    }
    const vi u01 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[0], v[1]), _mm256_unpackhi_epi32(v[0], v[1]));
    const vi u23 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2], v[3]), _mm256_unpackhi_epi32(v[2], v[3]));
    const vi s = _mm256_add_epi32(_mm256_unpacklo_epi64(u01, u23), _mm256_unpackhi_epi64(u01, u23));
    w[h] = _mm256_permutevar8x32_epi32(s, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  }
  // vpackssdw packs within 128-bit lanes: groups 0-3, 8-11, 4-7, 12-15 until the qword permute.
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permute4x64_epi64(_mm256_packs_epi32(w[0], w[1]), 0xd8));
}
PONDER_AI void store_i8(int8_t* dst, vi q) {
  const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), _mm_packs_epi16(p16, p16));
}
PONDER_AI void store_i16(int16_t* dst, vi q) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                   _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)));
}

PONDER_AI vf loadf(const float* p) { return _mm256_loadu_ps(p); }
PONDER_AI void storef(float* p, vf v) { _mm256_storeu_ps(p, v); }
PONDER_AI vf zerof() { return _mm256_setzero_ps(); }
PONDER_AI vf set1f(float v) { return _mm256_set1_ps(v); }
PONDER_AI vf fmaf(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
PONDER_AI vf fnmaf(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
PONDER_AI vf mulf(vf a, vf b) { return _mm256_mul_ps(a, b); }
PONDER_AI vf addf(vf a, vf b) { return _mm256_add_ps(a, b); }
PONDER_AI vf subf(vf a, vf b) { return _mm256_sub_ps(a, b); }
PONDER_AI vf divf(vf a, vf b) { return _mm256_div_ps(a, b); }
PONDER_AI vf maxf(vf a, vf b) { return _mm256_max_ps(a, b); }
PONDER_AI vf minf(vf a, vf b) { return _mm256_min_ps(a, b); }
PONDER_AI vf absf(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
PONDER_AI vf roundf_v(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
PONDER_AI vf truncf_v(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
PONDER_AI vf cvtf(vi a) { return _mm256_cvtepi32_ps(a); }
PONDER_AI vi cvti(vf a) { return _mm256_cvtps_epi32(a); }
PONDER_AI vf as_f(vi a) { return _mm256_castsi256_ps(a); }
PONDER_AI vf load_f16(const void* p) { return _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i*>(p))); }
// The f16 values in the low 16 bits of each int32 lane (high bits zero), as floats.
PONDER_AI vf f16_lanes(vi h) {
  return _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08)));
}
PONDER_AI vf load_bf16(const void* p) {
  return _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p))), 16));
}
PONDER_AI void store_f16(uint16_t* p, vf v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
PONDER_AI float hsumf(vf v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
PONDER_AI float hmaxf(vf v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
PONDER_AI float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
// Transposes the R × R floats whose rows are v[0..R): pairs of rows interleaved, then quads, then
// the quads' 128-bit lanes swapped into place.
PONDER_AI void transpose_rr(vf* v) {
  vf t[8];
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm256_unpacklo_ps(v[k], v[k + 1]);
    t[k + 1] = _mm256_unpackhi_ps(v[k], v[k + 1]);
  }
  auto pd = [](vf x) { return _mm256_castps_pd(x); };
  vf u[8];  // u[4k + j], 128-bit lane L: rows 4k..4k+3 at column 4L + j
  for (int k = 0; k < 8; k += 4) {
    u[k] = _mm256_castpd_ps(_mm256_unpacklo_pd(pd(t[k]), pd(t[k + 2])));
    u[k + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(pd(t[k]), pd(t[k + 2])));
    u[k + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(pd(t[k + 1]), pd(t[k + 3])));
    u[k + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(pd(t[k + 1]), pd(t[k + 3])));
  }
  for (int j = 0; j < 4; ++j) {
    v[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    v[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

// Σ over NG groups of 4 bytes: w[g] (u8, R rows × 4) · a[4g..4g+3] (s8, broadcast), with int16
// partial sums of at most MAXP groups (so none saturates), each multiplied into int32 by `sc`
// (an int16 pair per lane: the scale twice, or 1 twice).
// The broadcast of activation group g (bytes 4g..4g+3) is a vpshufd of 16 bytes loaded into both
// 128-bit lanes: two loads per 8 groups instead of eight broadcast loads, which on Zen 3 cost
// about a third of the kernel's throughput. Broadcasting into an L1 buffer ahead of time (so that
// vpmaddubsw takes memory operands) gained only 10% in a micro-benchmark and lost in the real tile:
// on Zen 3 the loop is bound by vector issue width (about 4.6 ops a cycle), not by the shuffles.
template <int NG, int MAXP>
PONDER_AI vi dot_scaled(const vi* w, const int8_t* a, vi sc) {
  static_assert(NG % 4 == 0);
  vi lanes[NG / 4];
  for (int h = 0; h < NG / 4; ++h) lanes[h] = bcast16(a + 16 * h);
  auto group = [&](int g) {
    switch (g & 3) {
      case 0: return _mm256_shuffle_epi32(lanes[g >> 2], 0x00);
      case 1: return _mm256_shuffle_epi32(lanes[g >> 2], 0x55);
      case 2: return _mm256_shuffle_epi32(lanes[g >> 2], 0xaa);
      default: return _mm256_shuffle_epi32(lanes[g >> 2], 0xff);
    }
  };
  vi total = zeroi();
  for (int c = 0; c < NG; c += MAXP) {
    vi t = _mm256_maddubs_epi16(w[c], group(c));
    for (int g = c + 1; g < c + MAXP && g < NG; ++g) t = add16(t, _mm256_maddubs_epi16(w[g], group(g)));
    total = c == 0 ? madd16(t, sc) : add32(total, madd16(t, sc));
  }
  return total;
}
// dot_scaled for signed weights w (|w| ≤ 127, wabs = abs8(w)): vpmaddubsw of |w| and the
// activations with w's signs, then each product pair (up to 2·127² in int16) straight to int32.
// (The broadcast is written out again rather than shared with dot_scaled: moving dot_scaled's into
// a helper changed GCC 12's register allocation of the Q5_K and Q6_K tiles.)
template <int NG>
PONDER_AI vi dot_signed(const vi* wabs, const vi* w, const int8_t* a, vi sc) {
  static_assert(NG % 4 == 0);
  vi lanes[NG / 4];
  for (int h = 0; h < NG / 4; ++h) lanes[h] = bcast16(a + 16 * h);
  auto group = [&](int g) {
    switch (g & 3) {
      case 0: return _mm256_shuffle_epi32(lanes[g >> 2], 0x00);
      case 1: return _mm256_shuffle_epi32(lanes[g >> 2], 0x55);
      case 2: return _mm256_shuffle_epi32(lanes[g >> 2], 0xaa);
      default: return _mm256_shuffle_epi32(lanes[g >> 2], 0xff);
    }
  };
  vi total = zeroi();
  for (int g = 0; g < NG; ++g) {
    const vi t = madd16(_mm256_maddubs_epi16(wabs[g], sign8(group(g), w[g])), sc);
    total = g == 0 ? t : add32(total, t);
  }
  return total;
}
// dot_scaled with the activations already broadcast in a register (the int8 probe).
template <int NG, int MAXP>
PONDER_AI vi dot_regs(const vi* w, vi a, vi sc) {
  vi total = zeroi();
  for (int c = 0; c < NG; c += MAXP) {
    vi t = _mm256_maddubs_epi16(w[c], a);
    for (int g = c + 1; g < c + MAXP && g < NG; ++g) t = add16(t, _mm256_maddubs_epi16(w[g], a));
    total = c == 0 ? madd16(t, sc) : add32(total, madd16(t, sc));
  }
  return total;
}
PONDER_AI vi scale_one() { return set1_16(1); }
template <int NG, int MAXP>
PONDER_AI vi dot_plain(const vi* w, const int8_t* a) {
  return dot_scaled<NG, MAXP>(w, a, scale_one());
}
// Byte i (0..3) of each int32 lane as the scale operand of dot_scaled.
// (Byte i + 0x80 still has its top bit set, so the zeroed bytes stay zero.)
PONDER_AI vi scale_from_byte(vi packed, int i) {
  return shuf8(packed, _mm256_add_epi8(dword_mask(0, -1, 0, -1), set1_8(static_cast<char>(i))));
}
// dot_scaled's scale operand lowered by k (both int16 of each pair).
PONDER_AI vi scale_sub(vi sc, short k) { return sub16(sc, set1_16(k)); }
// Small signed int32 lanes as the scale operand of dot_scaled.
PONDER_AI vi scale_from_i32(vi x) { return blend_hi16(x, sll32<16>(x)); }
// Σ over NP pairs: w16[p] (int16 pairs, R rows × 2) · a[2p..2p+1] (int16, broadcast; four pairs
// per 16-byte load, spread by vpshufd as in dot_scaled).
template <int NP>
PONDER_AI vi dot16(const vi* w16, const int16_t* a) {
  static_assert(NP % 4 == 0);
  vi total = zeroi();
  for (int q = 0; q < NP / 4; ++q) {
    const vi l = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + 8 * q)));
    const vi s0 = madd16(w16[4 * q], _mm256_shuffle_epi32(l, 0x00));
    const vi s1 = madd16(w16[4 * q + 1], _mm256_shuffle_epi32(l, 0x55));
    const vi s2 = madd16(w16[4 * q + 2], _mm256_shuffle_epi32(l, 0xaa));
    const vi s3 = madd16(w16[4 * q + 3], _mm256_shuffle_epi32(l, 0xff));
    total = add32(total, add32(add32(s0, s1), add32(s2, s3)));
  }
  return total;
}

}  // namespace isa

using namespace isa;
#include "kernels/cpu/kernels_impl.h"

}  // namespace

const KernelTable& kernels_avx2() { return kTable; }

}  // namespace ponder::cpu
