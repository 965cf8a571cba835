// AVX-512 primitives for kernels_impl.h (R = 16 rows per weight group, one int32 lane each of a
// 512-bit register), shared by kernels_avx512.cpp (F+BW+VL+DQ: vpmaddubsw + vpmaddwd as AVX2) and
// kernels_avx512vnni.cpp (PONDER_VNNI: vpdpbusd / vpdpwssd accumulate straight into int32, so no
// int16 partial sums and the sub-block scale is one vpmulld). Included inside an anonymous
// namespace by each of them.
namespace isa {

constexpr int R = 16;
using vi = __m512i;
using vf = __m512;

PONDER_AI vi loadv(const void* p) { return _mm512_loadu_si512(p); }
PONDER_AI void storev(void* p, vi v) { _mm512_storeu_si512(p, v); }
PONDER_AI vi bcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
PONDER_AI vi bcast16(const void* p) { return _mm512_broadcast_i32x4(_mm_loadu_si128(static_cast<const __m128i*>(p))); }
PONDER_AI vi zx16to32(const void* p) { return _mm512_cvtepu16_epi32(_mm256_loadu_si256(static_cast<const __m256i*>(p))); }
PONDER_AI vi zx8to32(const void* p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p))); }
// Grid lookups (kernels_avx2.cpp defines what they compute): scalar loads assembled row by row,
// which on Zen 5 beats vpgatherdd (kernel_bench, one thread, IQ2_XXS decode 28 -> 40 GOP/s, batches
// of 16 160 -> 187), except for lookup32 in batched tiles (IQ3_S batches of 16: gather 182, scalar
// 169), so lookup32 gathers unless kOneRow (decode: IQ3_S 26 -> 29, IQ1_S 29 -> 34).
PONDER_AI __m128i lookup4(const uint32_t* table, const uint32_t* i) {
  __m128i v = _mm_cvtsi32_si128(static_cast<int>(table[i[0]]));
  v = _mm_insert_epi32(v, static_cast<int>(table[i[1]]), 1);
  v = _mm_insert_epi32(v, static_cast<int>(table[i[2]]), 2);
  return _mm_insert_epi32(v, static_cast<int>(table[i[3]]), 3);
}
PONDER_AI vi lookup_rows(const uint32_t* table, const uint32_t* i) {
  const __m256i lo = _mm256_inserti128_si256(_mm256_castsi128_si256(lookup4(table, i)), lookup4(table, i + 4), 1);
  const __m256i hi = _mm256_inserti128_si256(_mm256_castsi128_si256(lookup4(table, i + 8)), lookup4(table, i + 12), 1);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
template <bool kOneRow>
PONDER_AI vi lookup32(const uint32_t* table, vi idx) {
  if constexpr (kOneRow) {
    alignas(64) uint32_t i[16];
    _mm512_store_si512(i, idx);
    return lookup_rows(table, i);
  } else {
    return _mm512_i32gather_epi32(idx, table, 4);
  }
}
template <int Stride>
PONDER_AI vi lookup8(const uint32_t* table, const uint8_t* idx) {
  uint32_t i[16];
  for (int r = 0; r < 16; ++r) i[r] = Stride * idx[r];
  return lookup_rows(table, i);
}
template <int Stride>
PONDER_AI vi lookup16(const uint32_t* table, const uint8_t* p, uint32_t mask) {
  uint32_t i[16];
  for (int r = 0; r < 16; ++r) {
    uint16_t v;
    std::memcpy(&v, p + 2 * r, 2);
    i[r] = Stride * (v & mask);
  }
  return lookup_rows(table, i);
}
PONDER_AI vi cmpeq8(vi a, vi b) { return _mm512_movm_epi8(_mm512_cmpeq_epi8_mask(a, b)); }
PONDER_AI vi abs8(vi a) { return _mm512_abs_epi8(a); }
// a negated where w < 0 (unlike vpsignb, not zeroed where w == 0: callers multiply by |w|).
PONDER_AI vi sign8(vi a, vi w) { return _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a); }
PONDER_AI vi zeroi() { return _mm512_setzero_si512(); }
PONDER_AI vi set1_8(char v) { return _mm512_set1_epi8(v); }
PONDER_AI vi set1_16(short v) { return _mm512_set1_epi16(v); }
PONDER_AI vi set1_32(int v) { return _mm512_set1_epi32(v); }
PONDER_AI vi and_v(vi a, vi b) { return _mm512_and_si512(a, b); }
PONDER_AI vi or_v(vi a, vi b) { return _mm512_or_si512(a, b); }
PONDER_AI vi xor_v(vi a, vi b) { return _mm512_xor_si512(a, b); }
template <int N> PONDER_AI vi srl16(vi a) { return _mm512_srli_epi16(a, N); }
template <int N> PONDER_AI vi sll16(vi a) { return _mm512_slli_epi16(a, N); }
template <int N> PONDER_AI vi srl32(vi a) { return _mm512_srli_epi32(a, N); }
template <int N> PONDER_AI vi sll32(vi a) { return _mm512_slli_epi32(a, N); }
PONDER_AI vi add8(vi a, vi b) { return _mm512_add_epi8(a, b); }
PONDER_AI vi add16(vi a, vi b) { return _mm512_add_epi16(a, b); }
PONDER_AI vi add32(vi a, vi b) { return _mm512_add_epi32(a, b); }
PONDER_AI vi sub16(vi a, vi b) { return _mm512_sub_epi16(a, b); }
PONDER_AI vi sub32(vi a, vi b) { return _mm512_sub_epi32(a, b); }
PONDER_AI vi mul32(vi a, vi b) { return _mm512_mullo_epi32(a, b); }
PONDER_AI vi madd16(vi a, vi b) { return _mm512_madd_epi16(a, b); }
// acc + madd16(a, b): one vpdpwssd with VNNI.
#ifdef PONDER_VNNI
PONDER_AI vi madd16_add(vi acc, vi a, vi b) { return _mm512_dpwssd_epi32(acc, a, b); }
#else
PONDER_AI vi madd16_add(vi acc, vi a, vi b) { return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b)); }
#endif
PONDER_AI vi shuf8(vi a, vi m) { return _mm512_shuffle_epi8(a, m); }
PONDER_AI vi blend_hi16(vi lo, vi hi) { return _mm512_mask_blend_epi16(0xAAAAAAAAu, lo, hi); }
PONDER_AI vi sx8to32(const void* p) { return _mm512_cvtepi8_epi32(_mm_loadu_si128(static_cast<const __m128i*>(p))); }
PONDER_AI vi sx8to16(const void* p) { return _mm512_cvtepi8_epi16(_mm256_loadu_si256(static_cast<const __m256i*>(p))); }
PONDER_AI vi dword_mask(int b0, int b1, int b2, int b3) {
  auto m = [](int b, int k) { return static_cast<char>(b < 0 ? 0x80 : 4 * k + b); };
  const __m128i lane = _mm_setr_epi8(m(b0, 0), m(b1, 0), m(b2, 0), m(b3, 0), m(b0, 1), m(b1, 1), m(b2, 1), m(b3, 1),
                                     m(b0, 2), m(b1, 2), m(b2, 2), m(b3, 2), m(b0, 3), m(b1, 3), m(b2, 3), m(b3, 3));
  return _mm512_broadcast_i32x4(lane);
}
PONDER_AI int32_t hsum_i(vi v) { return _mm512_reduce_add_epi32(v); }
// out[j] = the sum of the 16 int8 q[16j..16j+15], for j < 16: sums of four bytes per int32 lane,
// then the four lanes of each 128-bit lane added across four vectors at once (lane 4L + k: group
// 4k + L), put in order.
PONDER_AI void group16_sums(const int8_t* q, int16_t* out) {
  vi v[4];
  for (int k = 0; k < 4; ++k) {
#ifdef PONDER_VNNI
    v[k] = _mm512_dpbusd_epi32(zeroi(), set1_8(1), loadv(q + 64 * k));
#else
    v[k] = _mm512_madd_epi16(_mm512_maddubs_epi16(set1_8(1), loadv(q + 64 * k)), set1_16(1));
#endif
  }
  const vi u01 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
  const vi u23 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
  const vi w = _mm512_add_epi32(_mm512_unpacklo_epi64(u01, u23), _mm512_unpackhi_epi64(u01, u23));
  const vi order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtepi32_epi16(_mm512_permutexvar_epi32(order, w)));
}
PONDER_AI void store_i8(int8_t* dst, vi q) { _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm512_cvtsepi32_epi8(q)); }
PONDER_AI void store_i16(int16_t* dst, vi q) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm512_cvtsepi32_epi16(q));
}

PONDER_AI vf loadf(const float* p) { return _mm512_loadu_ps(p); }
PONDER_AI void storef(float* p, vf v) { _mm512_storeu_ps(p, v); }
PONDER_AI vf zerof() { return _mm512_setzero_ps(); }
PONDER_AI vf set1f(float v) { return _mm512_set1_ps(v); }
PONDER_AI vf fmaf(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
PONDER_AI vf fnmaf(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
PONDER_AI vf mulf(vf a, vf b) { return _mm512_mul_ps(a, b); }
PONDER_AI vf addf(vf a, vf b) { return _mm512_add_ps(a, b); }
PONDER_AI vf subf(vf a, vf b) { return _mm512_sub_ps(a, b); }
PONDER_AI vf divf(vf a, vf b) { return _mm512_div_ps(a, b); }
PONDER_AI vf maxf(vf a, vf b) { return _mm512_max_ps(a, b); }
PONDER_AI vf minf(vf a, vf b) { return _mm512_min_ps(a, b); }
PONDER_AI vf absf(vf a) { return _mm512_abs_ps(a); }
PONDER_AI vf roundf_v(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
PONDER_AI vf truncf_v(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
PONDER_AI vf cvtf(vi a) { return _mm512_cvtepi32_ps(a); }
PONDER_AI vi cvti(vf a) { return _mm512_cvtps_epi32(a); }
PONDER_AI vf as_f(vi a) { return _mm512_castsi512_ps(a); }
PONDER_AI vf load_f16(const void* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(static_cast<const __m256i*>(p))); }
PONDER_AI vf f16_lanes(vi h) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)); }
PONDER_AI vf load_bf16(const void* p) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(static_cast<const __m256i*>(p))), 16));
}
PONDER_AI void store_f16(uint16_t* p, vf v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
PONDER_AI float hsumf(vf v) { return _mm512_reduce_add_ps(v); }
PONDER_AI float hmaxf(vf v) { return _mm512_reduce_max_ps(v); }
PONDER_AI float f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
// Transposes the R × R floats whose rows are v[0..R): pairs of rows interleaved, then quads, then
// 128-bit lanes gathered across the quads (so v[4L + j] collects column 4L + j of every quad).
PONDER_AI void transpose_rr(vf* v) {
  vf t[16];
  for (int k = 0; k < 16; k += 2) {
    t[k] = _mm512_unpacklo_ps(v[k], v[k + 1]);
    t[k + 1] = _mm512_unpackhi_ps(v[k], v[k + 1]);
  }
  auto pd = [](vf x) { return _mm512_castps_pd(x); };
  vf u[16];  // u[4k + j], 128-bit lane L: rows 4k..4k+3 at column 4L + j
  for (int k = 0; k < 16; k += 4) {
    u[k] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t[k]), pd(t[k + 2])));
    u[k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t[k]), pd(t[k + 2])));
    u[k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t[k + 1]), pd(t[k + 3])));
    u[k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t[k + 1]), pd(t[k + 3])));
  }
  for (int j = 0; j < 4; ++j) {
    const vf p0 = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(1, 0, 1, 0));
    const vf p1 = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(3, 2, 3, 2));
    const vf q0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(1, 0, 1, 0));
    const vf q1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(3, 2, 3, 2));
    v[j] = _mm512_shuffle_f32x4(p0, q0, _MM_SHUFFLE(2, 0, 2, 0));
    v[4 + j] = _mm512_shuffle_f32x4(p0, q0, _MM_SHUFFLE(3, 1, 3, 1));
    v[8 + j] = _mm512_shuffle_f32x4(p1, q1, _MM_SHUFFLE(2, 0, 2, 0));
    v[12 + j] = _mm512_shuffle_f32x4(p1, q1, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

#ifdef PONDER_VNNI
// Q8_0's repacked pair vectors P0, P1 at p (repack.h: elements 2k, 2k + 1 of R rows, then 2k + 2,
// 2k + 3) as one vector of 4-element groups, row r's bytes P0[2r..2r+1] P1[2r..2r+1], each + 128.
PONDER_AI vi q8_quads(const uint8_t* p) {
  const vi idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20,
                                  4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_xor_si512(_mm512_permutexvar_epi16(idx, loadv(p)), set1_8(static_cast<char>(0x80)));
}
PONDER_AI vi scale_one() { return set1_32(1); }
template <int NG, int MAXP>
PONDER_AI vi dot_plain(const vi* w, const int8_t* a) {
  vi acc = zeroi();
  for (int g = 0; g < NG; ++g) acc = _mm512_dpbusd_epi32(acc, w[g], bcast4(a + 4 * g));
  return acc;
}
template <int NG, int MAXP>
PONDER_AI vi dot_scaled(const vi* w, const int8_t* a, vi sc) {
  return _mm512_mullo_epi32(dot_plain<NG, MAXP>(w, a), sc);
}
PONDER_AI vi scale_from_byte(vi packed, int i) {
  return shuf8(packed, _mm512_add_epi8(dword_mask(0, -1, -1, -1), set1_8(static_cast<char>(i))));
}
template <int NG, int MAXP>
PONDER_AI vi dot_regs(const vi* w, vi a, vi sc) {
  vi acc = zeroi();
  for (int g = 0; g < NG; ++g) acc = _mm512_dpbusd_epi32(acc, w[g], a);
  return _mm512_mullo_epi32(acc, sc);
}
template <int NG>
PONDER_AI vi dot_signed(const vi* wabs, const vi* w, const int8_t* a, vi sc) {
  vi acc = zeroi();
  for (int g = 0; g < NG; ++g) acc = _mm512_dpbusd_epi32(acc, wabs[g], sign8(bcast4(a + 4 * g), w[g]));
  return _mm512_mullo_epi32(acc, sc);
}
PONDER_AI vi scale_sub(vi sc, short k) { return sub32(sc, set1_32(k)); }
PONDER_AI vi scale_from_i32(vi x) { return x; }
template <int NP>
PONDER_AI vi dot16(const vi* w16, const int16_t* a) {
  vi acc = zeroi();
  for (int p = 0; p < NP; ++p) acc = _mm512_dpwssd_epi32(acc, w16[p], bcast4(a + 2 * p));
  return acc;
}
#else
PONDER_AI vi scale_one() { return set1_16(1); }
template <int NG, int MAXP>
PONDER_AI vi dot_scaled(const vi* w, const int8_t* a, vi sc) {
  vi total = zeroi();
  for (int c = 0; c < NG; c += MAXP) {
    vi t = _mm512_maddubs_epi16(w[c], bcast4(a + 4 * c));
    for (int g = c + 1; g < c + MAXP && g < NG; ++g) t = add16(t, _mm512_maddubs_epi16(w[g], bcast4(a + 4 * g)));
    total = c == 0 ? madd16(t, sc) : add32(total, madd16(t, sc));
  }
  return total;
}
template <int NG, int MAXP>
PONDER_AI vi dot_plain(const vi* w, const int8_t* a) {
  return dot_scaled<NG, MAXP>(w, a, scale_one());
}
template <int NG, int MAXP>
PONDER_AI vi dot_regs(const vi* w, vi a, vi sc) {
  vi total = zeroi();
  for (int c = 0; c < NG; c += MAXP) {
    vi t = _mm512_maddubs_epi16(w[c], a);
    for (int g = c + 1; g < c + MAXP && g < NG; ++g) t = add16(t, _mm512_maddubs_epi16(w[g], a));
    total = c == 0 ? madd16(t, sc) : add32(total, madd16(t, sc));
  }
  return total;
}
PONDER_AI vi scale_from_byte(vi packed, int i) {
  return shuf8(packed, _mm512_add_epi8(dword_mask(0, -1, 0, -1), set1_8(static_cast<char>(i))));
}
template <int NG>
PONDER_AI vi dot_signed(const vi* wabs, const vi* w, const int8_t* a, vi sc) {
  vi total = zeroi();
  for (int g = 0; g < NG; ++g) {
    const vi t = madd16(_mm512_maddubs_epi16(wabs[g], sign8(bcast4(a + 4 * g), w[g])), sc);
    total = g == 0 ? t : add32(total, t);
  }
  return total;
}
PONDER_AI vi scale_sub(vi sc, short k) { return sub16(sc, set1_16(k)); }
PONDER_AI vi scale_from_i32(vi x) { return blend_hi16(x, sll32<16>(x)); }
template <int NP>
PONDER_AI vi dot16(const vi* w16, const int16_t* a) {
  vi total = madd16(w16[0], bcast4(a));
  for (int p = 1; p < NP; ++p) total = add32(total, madd16(w16[p], bcast4(a + 2 * p)));
  return total;
}
#endif

}  // namespace isa
