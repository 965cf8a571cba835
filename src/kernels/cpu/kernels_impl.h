// The CPU kernels, written once over a small set of SIMD primitives (namespace isa: R int32/float
// lanes, loads, int8/int16 dot products, float math). Each kernels_<isa>.cpp defines the
// primitives for its instruction set and then includes this file inside an anonymous namespace,
// so every instantiation has internal linkage and no code compiled for one ISA can be picked by
// the linker for another. Include nothing here that has inline functions of its own.
//
// Matmul: the output rows are split into groups of R (repack.h); a tile is one group × up to
// kMaxNc activation rows. The group's weights for one block are unpacked into registers once and
// used for every activation row of the tile; each activation row has its own float accumulator,
// whose lanes are the R output rows, so a block's R weight scales apply with one FMA. Decode
// (one activation row) runs the same code with a tile of one row, so a token's results do not
// depend on how it was batched. Activations are processed in slices of rows whose quantized bytes
// fit in L2, and the thread's weight groups are swept once per slice.
//
// Attention and the KV cache's q8_0 quantizer: kernels_attention_impl.h.

// Lambdas that must inline, as PONDER_AI functions: the tiles' block and sub-block bodies.
#define PONDER_AL __attribute__((always_inline))

namespace impl {

using namespace isa;

template <int N, class F>
PONDER_AI void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (f(std::integral_constant<int, I>{}), ...); }
  (std::make_integer_sequence<int, N>{});
}

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// exp(x) for every lane (Cephes' expf polynomial, relative error ~2e-7 for x in [-87, 88]).
PONDER_AI vf exp_v(vf x) {
  x = minf(maxf(x, set1f(-87.3f)), set1f(88.3f));
  const vf n = roundf_v(mulf(x, set1f(1.44269504088896341f)));
  vf r = fnmaf(n, set1f(0.693359375f), x);
  r = fnmaf(n, set1f(-2.12194440e-4f), r);
  vf p = set1f(1.9875691500e-4f);
  p = fmaf(p, r, set1f(1.3981999507e-3f));
  p = fmaf(p, r, set1f(8.3334519073e-3f));
  p = fmaf(p, r, set1f(4.1665795894e-2f));
  p = fmaf(p, r, set1f(1.6666665459e-1f));
  p = fmaf(p, r, set1f(5.0000001201e-1f));
  p = fmaf(p, mulf(r, r), addf(r, set1f(1.0f)));
  const vi e = sll32<23>(add32(cvti(n), set1_32(127)));
  return mulf(p, as_f(e));
}

// Decode streams each weight group once from memory: prefetch a few blocks ahead so that both
// cores keep enough misses in flight (the hardware prefetcher alone leaves bandwidth unused).
template <int kBytes>
PONDER_AI void prefetch_block(const uint8_t* p) {
  for (int l = 0; l < kBytes; l += 64) _mm_prefetch(reinterpret_cast<const char*>(p + l), _MM_HINT_T0);
}
// How far ahead: this many blocks of 256 quants (formats with blocks of 32 go four times as many
// blocks): 2 for decode tiles (one activation row), 3 for batched ones. 1.5B Q4_K_M, 2 threads:
// decode matmuls 2-3% faster at 2 than at 3 (A/B within one process), batches of 16 rows 2% slower.
template <int NC>
constexpr int kPrefetchBlocks = NC == 1 ? 2 : 3;

PONDER_AI void store_rows(float* y, vf v, int valid) {
  if (valid == R) {
    storef(y, v);
    return;
  }
  alignas(64) float tmp[R];
  storef(tmp, v);
  for (int i = 0; i < valid; ++i) y[i] = tmp[i];
}

// ---------------------------------------------------------------------------------------------
// Activation quantization (kernels.h formats).

PONDER_AI float absmax(const float* x, int n) {
  vf m = zerof();
  for (int i = 0; i < n; i += R) m = maxf(m, absf(loadf(x + i)));
  return hmaxf(m);
}

void quantize_row(ActFormat f, const float* x, int64_t n_in, uint8_t* out) {
  if (f == ActFormat::A8) {
    auto* q = reinterpret_cast<int8_t*>(out);
    auto* d = reinterpret_cast<float*>(out + n_in);
    float* s = d + n_in / 32;
    const int64_t n_blocks = n_in / 32;
    for (int64_t b = 0; b < n_blocks; ++b) {
      const float amax = absmax(x + 32 * b, 32);
      const float id = amax > 0 ? 127.0f / amax : 0.0f;
      for (int i = 0; i < 32; i += R) store_i8(q + 32 * b + i, cvti(mulf(loadf(x + 32 * b + i), set1f(id))));
      d[b] = amax / 127.0f;
    }
    // The block sums from the stored bytes, eight blocks at a time as AK's sub-block sums (a
    // horizontal sum per block: 1250 ns per 8960 values in kernel_bench Quantize/a8, now ~900).
    int64_t b = 0;
    for (; b + 8 <= n_blocks; b += 8) {
      int16_t sums[16];
      group16_sums(q + 32 * b, sums);
      for (int i = 0; i < 8; ++i) s[b + i] = d[b + i] * static_cast<float>(sums[2 * i] + sums[2 * i + 1]);
    }
    for (; b < n_blocks; ++b) {
      int32_t sum = 0;
      for (int i = 0; i < 32; ++i) sum += q[32 * b + i];
      s[b] = d[b] * static_cast<float>(sum);
    }
  } else if (f == ActFormat::A16) {
    auto* q = reinterpret_cast<int16_t*>(out);
    auto* d = reinterpret_cast<float*>(out + 2 * n_in);
    for (int64_t b = 0; b < n_in / 32; ++b) {
      const float amax = absmax(x + 32 * b, 32);
      const float id = amax > 0 ? 32767.0f / amax : 0.0f;
      for (int i = 0; i < 32; i += R) store_i16(q + 32 * b + i, cvti(mulf(loadf(x + 32 * b + i), set1f(id))));
      d[b] = amax / 32767.0f;
    }
  } else if (f == ActFormat::AK) {
    auto* q = reinterpret_cast<int8_t*>(out);
    auto* d = reinterpret_cast<float*>(out + n_in);
    auto* bs16 = reinterpret_cast<int16_t*>(d + n_in / 256);
    int16_t* bs32 = bs16 + n_in / 16;
    for (int64_t b = 0; b < n_in / 256; ++b) {
      const float amax = absmax(x + 256 * b, 256);
      const float id = amax > 0 ? 127.0f / amax : 0.0f;
      d[b] = amax / 127.0f;
      int8_t* qb = q + 256 * b;
      for (int i = 0; i < 256; i += R) store_i8(qb + i, cvti(mulf(loadf(x + 256 * b + i), set1f(id))));
      // The sub-block sums from the stored bytes, all sixteen at once (a horizontal sum per
      // sub-block made quantization 1.5x slower).
      group16_sums(qb, bs16 + 16 * b);
      for (int i = 0; i < 8; ++i) bs32[8 * b + i] = static_cast<int16_t>(bs16[16 * b + 2 * i] + bs16[16 * b + 2 * i + 1]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Matmul tiles. Each handles one weight group (grp) against NC activation rows (a[y]) and writes
// the group's valid rows of each output row (y_out[y]).

constexpr int kMaxNc = R == 8 ? 4 : 8;

// `prefetch`: the tile is the first to read its weight group in this slice of rows, so the group
// comes from memory and is prefetched ahead (later tiles find it in cache). Batched decode of 16
// sequences gained about 7% from it (ponder bench --batch 16, alternating runs); every tile
// prefetching cost prefill of 64 tokens about a quarter.
template <int NC>
struct Tile {
  const uint8_t* a[NC];
  float* y[NC];
  bool prefetch = false;
};

// Nibble vectors of one "qs 4×4R" sub-block: w[g] holds elements 4g..4g+3 of each row.
PONDER_AI void unpack_nibbles(const uint8_t* qs, vi* w) {
  const vi m4 = set1_8(15);
  for (int k = 0; k < 4; ++k) {
    const vi raw = loadv(qs + k * 4 * R);
    w[k] = and_v(raw, m4);
    w[k + 4] = and_v(srl16<4>(raw), m4);
  }
}

// Adds the fifth bits of "qh 4R" (bit g of each byte → bit 4 of group g's byte) to half H of the
// groups: w[k] is group 4H + k.
template <int H>
PONDER_AI void add_fifth_bits_half(const uint8_t* qh, vi* w) {
  const vi h = loadv(qh);
  const vi m = set1_8(0x10);
  static_for<4>([&](auto k) {
    constexpr int G = 4 * H + k;
    vi b;
    if constexpr (G < 4) {
      b = sll16<4 - G>(h);
    } else if constexpr (G == 4) {
      b = h;
    } else {
      b = srl16<G - 4>(h);
    }
    w[k] = or_v(w[k], and_v(b, m));
  });
}

// Q4_0, Q4_1, Q5_0, Q5_1 against A8 activations.
template <DType T, int NC>
void tile_legacy(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr bool kMin = T == DType::Q4_1 || T == DType::Q5_1;
  constexpr bool kFive = T == DType::Q5_0 || T == DType::Q5_1;
  constexpr int kBlock = (2 + (kMin ? 2 : 0) + (kFive ? 4 : 0) + 16) * R;
  constexpr float kOffset = T == DType::Q4_0 ? 8.0f : T == DType::Q5_0 ? 16.0f : 0.0f;
  const int64_t nb = n_in / 32;
  const int8_t* aq[NC];
  const float* ad[NC];
  const float* as[NC];
  for (int y = 0; y < NC; ++y) {
    aq[y] = reinterpret_cast<const int8_t*>(t.a[y]);
    ad[y] = reinterpret_cast<const float*>(t.a[y] + n_in);
    as[y] = ad[y] + nb;
  }
  vf acc[NC];
  for (int y = 0; y < NC; ++y) acc[y] = zerof();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = grp + b * kBlock;
    if (t.prefetch) prefetch_block<kBlock>(p + 4 * kPrefetchBlocks<NC> * kBlock);
    const vf dw = load_f16(p);
    const uint8_t* qh = p + (kMin ? 4 : 2) * R;
    const uint8_t* qs = qh + (kFive ? 4 * R : 0);
    auto finish = [&](int y, vi s) {
      if constexpr (kMin) {
        const vf mw = load_f16(p + 2 * R);
        acc[y] = fmaf(mulf(cvtf(s), set1f(ad[y][b])), dw, acc[y]);
        acc[y] = fmaf(mw, set1f(as[y][b]), acc[y]);
      } else {
        const vf v = fmaf(cvtf(s), set1f(ad[y][b]), set1f(-kOffset * as[y][b]));
        acc[y] = fmaf(v, dw, acc[y]);
      }
    };
    // In two halves of 16 quants, as in tile_q45_k: all eight weight vectors with their fifth bits
    // made the AVX2 tile spill (kernel_bench, one Zen 3 thread: decode 22 → 25 GB/s against Q4_0's
    // 30, batches of 64 rows 12-18% faster), and Q4_1's batched AVX-512 tiles (one Zen 5 thread,
    // batches of 64 and 512 rows: 470 → 660 GOP/s; Q4_0's the same either way).
    if constexpr (kFive || (kMin && NC > 1 && R == 16)) {
      vi s[NC];
      static_for<2>([&](auto h) {
        constexpr int H = h;
        vi w[4];
        for (int k = 0; k < 4; ++k) {
          const vi raw = loadv(qs + k * 4 * R);
          w[k] = and_v(H == 0 ? raw : srl16<4>(raw), set1_8(15));
        }
        if constexpr (kFive) add_fifth_bits_half<H>(qh, w);
        for (int y = 0; y < NC; ++y) {
          const vi d = dot_plain<4, 4>(w, aq[y] + 32 * b + 16 * H);
          s[y] = H == 0 ? d : add32(s[y], d);
        }
      });
      for (int y = 0; y < NC; ++y) finish(y, s[y]);
    } else {
      vi w[8];
      unpack_nibbles(qs, w);
      for (int y = 0; y < NC; ++y) finish(y, dot_plain<8, 8>(w, aq[y] + 32 * b));
    }
  }
  for (int y = 0; y < NC; ++y) store_rows(t.y[y], acc[y], valid);
}

#ifdef PONDER_VNNI
// Q8_0 against A8 activations (VNNI): each 4-element group of R rows is gathered from two of the
// layout's pair vectors (q8_quads) with the weights + 128 as unsigned bytes, so vpdpbusd computes
// Σ (w + 128)·a exactly in int32; 128·Σa (A8's s = d·Σa) comes off in float.
constexpr ActFormat kQ8_0Act = ActFormat::A8;

template <int NC>
void tile_q8_0(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = 34 * R;
  const int64_t nb = n_in / 32;
  const int8_t* aq[NC];
  const float* ad[NC];
  const float* as[NC];
  for (int y = 0; y < NC; ++y) {
    aq[y] = reinterpret_cast<const int8_t*>(t.a[y]);
    ad[y] = reinterpret_cast<const float*>(t.a[y] + n_in);
    as[y] = ad[y] + nb;
  }
  vf acc[NC];
  for (int y = 0; y < NC; ++y) acc[y] = zerof();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = grp + b * kBlock;
    if (t.prefetch) prefetch_block<kBlock>(p + 4 * kPrefetchBlocks<NC> * kBlock);
    const vf dw = load_f16(p);
    vi w[8];
    for (int k = 0; k < 8; ++k) w[k] = q8_quads(p + 2 * R + k * 4 * R);
    for (int y = 0; y < NC; ++y) {
      const vf dot = mulf(cvtf(dot_plain<8, 8>(w, aq[y] + 32 * b)), set1f(ad[y][b]));
      acc[y] = fmaf(fnmaf(set1f(128.0f), set1f(as[y][b]), dot), dw, acc[y]);
    }
  }
  for (int y = 0; y < NC; ++y) store_rows(t.y[y], acc[y], valid);
}
#else
constexpr ActFormat kQ8_0Act = ActFormat::A16;

// Q8_0 against A16 activations: weights widened to int16 pairs, vpmaddwd.
template <int NC>
void tile_q8_0(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = 34 * R;
  const int64_t nb = n_in / 32;
  const int16_t* aq[NC];
  const float* ad[NC];
  for (int y = 0; y < NC; ++y) {
    aq[y] = reinterpret_cast<const int16_t*>(t.a[y]);
    ad[y] = reinterpret_cast<const float*>(t.a[y] + 2 * n_in);
  }
  vf acc[NC];
  for (int y = 0; y < NC; ++y) acc[y] = zerof();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = grp + b * kBlock;
    if (t.prefetch) prefetch_block<kBlock>(p + 4 * kPrefetchBlocks<NC> * kBlock);
    const vf dw = load_f16(p);
    vi isum[NC];
    for (int h = 0; h < 2; ++h) {
      vi w[8];
      for (int j = 0; j < 8; ++j) w[j] = sx8to16(p + 2 * R + (8 * h + j) * 2 * R);
      for (int y = 0; y < NC; ++y) {
        const vi s = dot16<8>(w, aq[y] + 32 * b + 16 * h);
        isum[y] = h == 0 ? s : add32(isum[y], s);
      }
    }
    for (int y = 0; y < NC; ++y) acc[y] = fmaf(mulf(cvtf(isum[y]), set1f(ad[y][b])), dw, acc[y]);
  }
  for (int y = 0; y < NC; ++y) store_rows(t.y[y], acc[y], valid);
}

#endif

struct AkRow {
  const int8_t* q;
  const float* d;
  const int16_t* bs16;
  const int16_t* bs32;
};

PONDER_AI AkRow ak_row(const uint8_t* a, int64_t n_in) {
  AkRow r;
  r.q = reinterpret_cast<const int8_t*>(a);
  r.d = reinterpret_cast<const float*>(a + n_in);
  r.bs16 = reinterpret_cast<const int16_t*>(r.d + n_in / 256);
  r.bs32 = r.bs16 + n_in / 16;
  return r;
}

// The frame every tile against AK activations shares: the tile's rows, one float accumulator per
// row (lanes: the group's R output rows), and the blocks of 256 quants (kBlock bytes each in the
// group) in order. block(p, b, a, acc) adds block b, whose weights are at p, into acc[0..NC); it
// takes a and acc as array references (as pointers, the IQ2_S, IQ3_S and IQ1_S tiles ran 6-12%
// slower in kernel_bench).
template <int kBlock, int NC, class Block>
PONDER_AI void ak_tile(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid, Block&& block) {
  AkRow a[NC];
  vf acc[NC];
  for (int y = 0; y < NC; ++y) {
    a[y] = ak_row(t.a[y], n_in);
    acc[y] = zerof();
  }
  for (int64_t b = 0; b < n_in / 256; ++b) {
    const uint8_t* p = grp + b * kBlock;
    if (t.prefetch) prefetch_block<kBlock>(p + kPrefetchBlocks<NC> * kBlock);
    block(p, b, a, acc);
  }
  for (int y = 0; y < NC; ++y) store_rows(t.y[y], acc[y], valid);
}

// Q4_K and Q5_K against AK activations.
template <bool kFive, int NC>
void tile_q45_k(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = (kFive ? 176 : 144) * R;
  ak_tile<kBlock>(grp, n_in, t, valid, [&](const uint8_t* p, int64_t b, const auto& a, auto& acc) PONDER_AL {
    const vi m6 = set1_8(0x3f), m4 = set1_8(0x0f), m2 = set1_8(0x03);
    const vi u0 = loadv(p + 4 * R), u2 = loadv(p + 12 * R);
    const vi s03 = and_v(u0, m6);
    const vi s47 = or_v(and_v(u2, m4), sll32<4>(and_v(srl32<6>(u0), m2)));
    const uint8_t* qs = p + 16 * R;
    vi isum[NC];
    for (int y = 0; y < NC; ++y) isum[y] = zeroi();
    // kHalves: a sub-block in two halves of 16 quants, so that four weight vectors live at a time,
    // and the sub-blocks as a loop. Unrolled, or with all eight vectors (and, for Q5_K, their
    // masks), GCC interleaved the sub-blocks and spilled their partial sums. Kernel_bench, one
    // thread: Q4_K's batched AVX-512 tiles on Zen 5, batches of 64 and 512 rows, VNNI 560 → 710
    // GOP/s and without VNNI 510 → 600; Q5_K on Zen 3 (AVX2), decode 3.7 → 19 GB/s and batches 2.3×
    // faster. Q4_K's decode tiles (5-15%) and its AVX2 tiles (~5%) are faster with all eight
    // vectors, unrolled.
    constexpr bool kHalves = kFive || (NC > 1 && R == 16);
    auto sub_block = [&](int I) PONDER_AL {
      const vi sc = scale_from_byte(I < 4 ? s03 : s47, I % 4);
      if constexpr (!kHalves) {
        vi w[8];
        unpack_nibbles(qs + I * 16 * R, w);
        for (int y = 0; y < NC; ++y) {
          isum[y] = add32(isum[y], dot_scaled<8, 8>(w, a[y].q + 256 * b + 32 * I, sc));
        }
        return;
      }
      static_for<2>([&](auto h) {
        constexpr int H = h;
        vi w[4];
        if constexpr (!kFive) {
          // "qs 4×4R": low nibbles are elements 0..15, high nibbles 16..31.
          for (int k = 0; k < 4; ++k) {
            const vi raw = loadv(qs + I * 16 * R + k * 4 * R);
            w[k] = and_v(H == 0 ? raw : srl16<4>(raw), m4);
          }
        } else if constexpr (H == 0) {
          // repack.h's "q5 5×4R": the low 5 bits of the five vectors are elements 0..19, their
          // top 3 bits carry elements 20..31.
          const uint8_t* q5 = qs + I * 20 * R;
          for (int k = 0; k < 4; ++k) w[k] = and_v(loadv(q5 + k * 4 * R), set1_8(0x1f));
        } else {
          const uint8_t* q5 = qs + I * 20 * R;
          const vi m5 = set1_8(0x1f), t3 = set1_8(static_cast<char>(0xe0));
          const vi v0 = loadv(q5), v1 = loadv(q5 + 4 * R), v2 = loadv(q5 + 8 * R);
          const vi v3 = loadv(q5 + 12 * R), v4 = loadv(q5 + 16 * R);
          w[0] = and_v(v4, m5);
          w[1] = or_v(srl16<5>(and_v(v0, t3)), srl16<2>(and_v(v1, set1_8(0x60))));
          w[2] = or_v(or_v(srl16<7>(and_v(v1, set1_8(static_cast<char>(0x80)))), srl16<4>(and_v(v2, t3))),
                      srl16<1>(and_v(v3, set1_8(0x20))));
          w[3] = or_v(srl16<6>(and_v(v3, set1_8(static_cast<char>(0xc0)))), srl16<3>(and_v(v4, t3)));
        }
        for (int y = 0; y < NC; ++y) {
          isum[y] = add32(isum[y], dot_scaled<4, 4>(w, a[y].q + 256 * b + 32 * I + 16 * H, sc));
        }
      });
    };
    if constexpr (kHalves && NC > 1) {
      for (int I = 0; I < 8; ++I) sub_block(I);
    } else {
      static_for<8>([&](auto i) { sub_block(i); });
    }
    const vi u1 = loadv(p + 8 * R);
    const vi m03 = and_v(u1, m6);
    const vi m47 = or_v(and_v(srl32<4>(u2), m4), sll32<4>(and_v(srl32<6>(u1), m2)));
    const vi mp0 = shuf8(m03, dword_mask(0, -1, 1, -1)), mp1 = shuf8(m03, dword_mask(2, -1, 3, -1));
    const vi mp2 = shuf8(m47, dword_mask(0, -1, 1, -1)), mp3 = shuf8(m47, dword_mask(2, -1, 3, -1));
    const vf dw = load_f16(p), dmw = load_f16(p + 2 * R);
    for (int y = 0; y < NC; ++y) {
      const int16_t* bs = a[y].bs32 + 8 * b;
      vi mins = madd16(mp0, bcast4(bs));
      mins = madd16_add(mins, mp1, bcast4(bs + 2));
      mins = madd16_add(mins, mp2, bcast4(bs + 4));
      mins = madd16_add(mins, mp3, bcast4(bs + 6));
      const vf da = set1f(a[y].d[b]);
      acc[y] = fmaf(cvtf(isum[y]), mulf(dw, da), acc[y]);
      acc[y] = fnmaf(cvtf(mins), mulf(dmw, da), acc[y]);
    }
  });
}

// Q6_K against AK activations: quants 0..63 with the -32 offset applied through the 16-element sums.
template <int NC>
void tile_q6_k(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = 210 * R;
  ak_tile<kBlock>(grp, n_in, t, valid, [&](const uint8_t* p, int64_t b, const auto& a, auto& acc) PONDER_AL {
    const uint8_t* scales = p + 2 * R;
    vi isum[NC];
    for (int y = 0; y < NC; ++y) isum[y] = zeroi();
    // Sixteen sub-blocks of 16 quants (repack.h's "q6 3×4R"): three ANDs give the first twelve,
    // the top bits of the three vectors make the last four. One sub-block's four weight vectors at
    // a time keep the tile within AVX2's sixteen registers.
    const vi m6 = set1_8(0x3f), top = set1_8(static_cast<char>(0xc0));
    // Two sub-blocks per iteration: decode tiles 13% faster with VNNI, 4% on AVX2 (kernel_bench,
    // one Zen 5 thread), batched ones the same.
#pragma GCC unroll 2
    for (int c = 0; c < 16; ++c) {
      const vi sc = scale_from_i32(sx8to32(scales + c * R));
      const uint8_t* q6 = p + 18 * R + c * 12 * R;
      const vi v0 = loadv(q6), v1 = loadv(q6 + 4 * R), v2 = loadv(q6 + 8 * R);
      vi w[4];
      w[0] = and_v(v0, m6);
      w[1] = and_v(v1, m6);
      w[2] = and_v(v2, m6);
      w[3] = or_v(or_v(srl16<6>(and_v(v0, top)), srl16<4>(and_v(v1, top))), srl16<2>(and_v(v2, top)));
      for (int y = 0; y < NC; ++y) {
        isum[y] = add32(isum[y], dot_scaled<4, 2>(w, a[y].q + 256 * b + 16 * c, sc));
      }
    }
    // The -32 offset: Σ over sub-blocks of scale · (sum of the sub-block's activations), by pairs.
    const vf dw = load_f16(p);
    vi off[NC];
    for (int i = 0; i < 8; ++i) {
      const vi pair = blend_hi16(sx8to32(scales + 2 * i * R), sll32<16>(sx8to32(scales + (2 * i + 1) * R)));
      for (int y = 0; y < NC; ++y) {
        const vi bs = bcast4(a[y].bs16 + 16 * b + 2 * i);
        off[y] = i == 0 ? madd16(pair, bs) : madd16_add(off[y], pair, bs);
      }
    }
    for (int y = 0; y < NC; ++y) {
      const vi s = sub32(isum[y], sll32<5>(off[y]));
      acc[y] = fmaf(cvtf(s), mulf(dw, set1f(a[y].d[b])), acc[y]);
    }
  });
}

// Q2_K against AK activations: sixteen sub-blocks of 16 quants (0..3), each one vector ("q2 4R"),
// with 4-bit scales and mins (the mins through the 16-element activation sums).
template <int NC>
void tile_q2_k(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = 84 * R;
  ak_tile<kBlock>(grp, n_in, t, valid, [&](const uint8_t* p, int64_t b, const auto& a, auto& acc) PONDER_AL {
    const uint8_t* planes = p + 4 * R;
    vi isum[NC], mins[NC];
    for (int y = 0; y < NC; ++y) isum[y] = mins[y] = zeroi();
    const vi m2 = set1_8(3), m4 = set1_8(0x0f);
    for (int c = 0; c < 16; ++c) {
      const vi sc = and_v(scale_from_byte(loadv(planes + (c / 4) * 4 * R), c % 4), set1_16(15));
      const vi v = loadv(p + 20 * R + c * 4 * R);
      const vi w[4] = {and_v(v, m2), and_v(srl16<2>(v), m2), and_v(srl16<4>(v), m2), and_v(srl16<6>(v), m2)};
      for (int y = 0; y < NC; ++y) {
        isum[y] = add32(isum[y], dot_scaled<4, 4>(w, a[y].q + 256 * b + 16 * c, sc));
      }
    }
    // The mins: Σ over sub-blocks of min · (sum of the sub-block's activations), by pairs.
    for (int k = 0; k < 4; ++k) {
      const vi m = and_v(srl16<4>(loadv(planes + k * 4 * R)), m4);
      const vi lo = shuf8(m, dword_mask(0, -1, 1, -1)), hi = shuf8(m, dword_mask(2, -1, 3, -1));
      for (int y = 0; y < NC; ++y) {
        const int16_t* bs = a[y].bs16 + 16 * b + 4 * k;
        mins[y] = madd16_add(madd16_add(mins[y], lo, bcast4(bs)), hi, bcast4(bs + 2));
      }
    }
    const vf dw = load_f16(p), dmw = load_f16(p + 2 * R);
    for (int y = 0; y < NC; ++y) {
      const vf da = set1f(a[y].d[b]);
      acc[y] = fmaf(cvtf(isum[y]), mulf(dw, da), acc[y]);
      acc[y] = fnmaf(cvtf(mins[y]), mulf(dmw, da), acc[y]);
    }
  });
}

// Q3_K against AK activations: sixteen sub-blocks of 16 quants made unsigned (0..7, "q3 3×4R" holds
// two sub-blocks), with signed 6-bit scales stored + 32; the quants' -4 offset is applied through
// the 16-element activation sums, as Q6_K's -32.
template <int NC>
void tile_q3_k(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = 110 * R;
  ak_tile<kBlock>(grp, n_in, t, valid, [&](const uint8_t* p, int64_t b, const auto& a, auto& acc) PONDER_AL {
    // The sixteen scales (0..63, stored + 32) as four bytes per lane in four vectors: scale i's low
    // 4 bits are nibble i / 8 of packed byte i % 8, its top 2 bits bits 2 (i / 4) of byte 8 + i % 4.
    const vi m4 = set1_8(0x0f), m2 = set1_8(3);
    const vi u0 = loadv(p + 2 * R), u1 = loadv(p + 6 * R), u2 = loadv(p + 10 * R);
    const vi sv[4] = {or_v(and_v(u0, m4), sll32<4>(and_v(u2, m2))),
                      or_v(and_v(u1, m4), sll32<4>(and_v(srl32<2>(u2), m2))),
                      or_v(and_v(srl32<4>(u0), m4), sll32<4>(and_v(srl32<4>(u2), m2))),
                      or_v(and_v(srl32<4>(u1), m4), sll32<4>(and_v(srl32<6>(u2), m2)))};
    vi isum[NC];
    for (int y = 0; y < NC; ++y) isum[y] = zeroi();
    const vi m3 = set1_8(7);
    for (int P = 0; P < 8; ++P) {
      const uint8_t* q3 = p + 14 * R + P * 12 * R;
      // Two sub-blocks in halves of four weight vectors, as Q5_K (tile_q45_k).
      static_for<2>([&](auto h) {
        constexpr int H = h;
        const int c = 2 * P + H;
        const vi sc = scale_sub(scale_from_byte(sv[c / 4], c % 4), 32);
        vi w[4];
        if constexpr (H == 0) {
          const vi v0 = loadv(q3), v1 = loadv(q3 + 4 * R);
          w[0] = and_v(v0, m3);
          w[1] = and_v(srl16<3>(v0), m3);
          w[2] = and_v(v1, m3);
          w[3] = and_v(srl16<3>(v1), m3);
        } else {
          const vi v0 = loadv(q3), v1 = loadv(q3 + 4 * R), v2 = loadv(q3 + 8 * R);
          w[0] = and_v(v2, m3);
          w[1] = and_v(srl16<3>(v2), m3);
          w[2] = or_v(srl16<6>(and_v(v0, set1_8(static_cast<char>(0xc0)))), srl16<4>(and_v(v1, set1_8(0x40))));
          w[3] = or_v(srl16<7>(and_v(v1, set1_8(static_cast<char>(0x80)))),
                      srl16<5>(and_v(v2, set1_8(static_cast<char>(0xc0)))));
        }
        for (int y = 0; y < NC; ++y) {
          isum[y] = add32(isum[y], dot_scaled<4, 4>(w, a[y].q + 256 * b + 16 * c, sc));
        }
      });
    }
    // The -4 offset: Σ over sub-blocks of scale · (sum of the sub-block's activations), by pairs.
    vi off[NC];
    for (int y = 0; y < NC; ++y) off[y] = zeroi();
    for (int k = 0; k < 4; ++k) {
      const vi lo = sub16(shuf8(sv[k], dword_mask(0, -1, 1, -1)), set1_16(32));
      const vi hi = sub16(shuf8(sv[k], dword_mask(2, -1, 3, -1)), set1_16(32));
      for (int y = 0; y < NC; ++y) {
        const int16_t* bs = a[y].bs16 + 16 * b + 4 * k;
        off[y] = madd16_add(madd16_add(off[y], lo, bcast4(bs)), hi, bcast4(bs + 2));
      }
    }
    const vf dw = load_f16(p);
    for (int y = 0; y < NC; ++y) {
      const vi s = sub32(isum[y], sll32<2>(off[y]));
      acc[y] = fmaf(cvtf(s), mulf(dw, set1f(a[y].d[b])), acc[y]);
    }
  });
}

// IQ4_NL's and IQ4_XS's grid values of half H of one "qs 4×4R" sub-block (H = 0: the low
// nibbles, groups 0..3; H = 1: the high nibbles, groups 4..7), and their absolute values.
template <int H>
PONDER_AI void unpack_iq4_half(const uint8_t* qs, vi grid, vi* w, vi* wabs) {
  for (int k = 0; k < 4; ++k) {
    const vi raw = loadv(qs + k * 4 * R);
    w[k] = shuf8(grid, and_v(H == 0 ? raw : srl16<4>(raw), set1_8(15)));
    wabs[k] = abs8(w[k]);
  }
}

// IQ4_NL against A8 activations: signed grid values (dot_signed), one f16 scale per block of 32.
template <int NC>
void tile_iq4_nl(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = 18 * R;
  const int64_t nb = n_in / 32;
  const int8_t* aq[NC];
  const float* ad[NC];
  for (int y = 0; y < NC; ++y) {
    aq[y] = reinterpret_cast<const int8_t*>(t.a[y]);
    ad[y] = reinterpret_cast<const float*>(t.a[y] + n_in);
  }
  const vi grid = bcast16(kIq4Grid);
  vf acc[NC];
  for (int y = 0; y < NC; ++y) acc[y] = zerof();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* p = grp + b * kBlock;
    if (t.prefetch) prefetch_block<kBlock>(p + 4 * kPrefetchBlocks<NC> * kBlock);
    vi s[NC];
    static_for<2>([&](auto h) {
      constexpr int H = h;
      vi w[4], wabs[4];
      unpack_iq4_half<H>(p + 2 * R, grid, w, wabs);
      for (int y = 0; y < NC; ++y) {
        const vi d = dot_signed<4>(wabs, w, aq[y] + 32 * b + 16 * H, scale_one());
        s[y] = H == 0 ? d : add32(s[y], d);
      }
    });
    const vf dw = load_f16(p);
    for (int y = 0; y < NC; ++y) acc[y] = fmaf(mulf(cvtf(s[y]), set1f(ad[y][b])), dw, acc[y]);
  }
  for (int y = 0; y < NC; ++y) store_rows(t.y[y], acc[y], valid);
}

// IQ4_XS against AK activations: eight sub-blocks of 32 grid values with signed 6-bit scales
// (stored + 32: low 4 bits nibble i of scales_l, top 2 bits bits 2i, 2i+1 of scales_h).
template <int NC>
void tile_iq4_xs(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = 136 * R;
  ak_tile<kBlock>(grp, n_in, t, valid, [&](const uint8_t* p, int64_t b, const auto& a, auto& acc) PONDER_AL {
    const vi grid = bcast16(kIq4Grid);
    const vi sh = zx16to32(p + 2 * R), sl = loadv(p + 4 * R);
    vi isum[NC];
    for (int y = 0; y < NC; ++y) isum[y] = zeroi();
    vi sc[8];
    static_for<8>([&](auto i) {
      constexpr int I = i;
      const vi ls = or_v(and_v(srl32<4 * I>(sl), set1_32(15)), sll32<4>(and_v(srl32<2 * I>(sh), set1_32(3))));
      sc[I] = scale_from_i32(sub32(ls, set1_32(32)));
    });
    // The sub-blocks as a loop: unrolled, the AVX2 tile of four rows spilled heavily.
    for (int I = 0; I < 8; ++I) {
      static_for<2>([&](auto h) {
        constexpr int H = h;
        vi w[4], wabs[4];
        unpack_iq4_half<H>(p + 8 * R + I * 16 * R, grid, w, wabs);
        for (int y = 0; y < NC; ++y) {
          isum[y] = add32(isum[y], dot_signed<4>(wabs, w, a[y].q + 256 * b + 32 * I + 16 * H, sc[I]));
        }
      });
    }
    const vf dw = load_f16(p);
    for (int y = 0; y < NC; ++y) acc[y] = fmaf(cvtf(isum[y]), mulf(dw, set1f(a[y].d[b])), acc[y]);
  });
}

// The IQ1, IQ2 and IQ3 kernels fetch grid entries for the R rows of a group at once (lookup8,
// lookup16, lookup32). IQ2 and IQ3 keep signs apart from magnitudes: signs become ±1 bytes that
// dot_signed puts on the activations.

// ±1 bytes for 4 weights of each row, minus where bits 0..3 of the lane's low byte are set.
PONDER_AI vi sign_bytes(vi lanes) {
  const vi bits = set1_32(0x08040201);
  return or_v(cmpeq8(and_v(shuf8(lanes, dword_mask(0, 0, 0, 0)), bits), bits), set1_8(1));
}

// ggml's ksigns: the low 7 bits of each lane with an eighth, the parity of the seven, at bit 7
// (so the count of minus signs in a group of 8 is even).
PONDER_AI vi with_parity(vi s7) {
  vi x = xor_v(s7, srl32<4>(s7));
  x = xor_v(x, srl32<2>(x));
  x = xor_v(x, srl32<1>(x));
  return or_v(s7, sll32<7>(and_v(x, set1_32(1))));
}

// IQ3_XXS and IQ3_S against AK activations (repack.h): each group of 4 weights of a row is an
// entry of the grid, so one lookup fetches a group for all R rows. XXS: 256 entries of values up to
// 62; per sub-block a word of 4 × 7 sign bits (with_parity) with the scale 2·ls + 1 in its top 4
// bits, a quarter of the block's d. S: 512 entries (a ninth index bit from qh) of values up to 15;
// every sign bit stored; scales 2·ls + 1 from a word of nibbles per row, times d.
template <DType T, int NC>
void tile_iq3(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr bool kS = T == DType::IQ3_S;
  constexpr int kBlock = (kS ? 110 : 98) * R;
  const uint32_t* grid = kS ? quant::kIq3sGridValues : quant::kIq3xxsGridValues;
  ak_tile<kBlock>(grp, n_in, t, valid, [&](const uint8_t* p, int64_t b, const auto& a, auto& acc) PONDER_AL {
    vi sc_s[8];  // S: the eight sub-blocks' scales
    if constexpr (kS) {
      const vi sw = loadv(p + 2 * R);
      static_for<8>([&](auto i) {
        sc_s[i] = scale_from_i32(add32(sll32<1>(and_v(srl32<4 * i>(sw), set1_32(15))), set1_32(1)));
      });
    }
    vi isum[NC];
    for (int y = 0; y < NC; ++y) isum[y] = zeroi();
    for (int I = 0; I < 8; ++I) {
      // XXS: qs [8][R] | aux [R] u32. S: qh [R] | qs [8][R] | signs [4][R].
      const uint8_t* s = kS ? p + 6 * R + I * 13 * R : p + 2 * R + I * 12 * R;
      const vi aux = kS ? zx8to32(s) : loadv(s + 8 * R);  // S: qh; XXS: signs and scale
      const vi sc = kS ? sc_s[I] : scale_from_i32(add32(sll32<1>(srl32<28>(aux)), set1_32(1)));
      static_for<2>([&](auto h) {
        constexpr int H = h;
        vi w[4], m[4];
        static_for<4>([&](auto kk) {
          constexpr int K = 4 * H + kk;
          if constexpr (kS) {
            w[kk] = lookup32<NC == 1>(grid, or_v(zx8to32(s + R + K * R), and_v(sll32<8 - K>(aux), set1_32(256))));
            const vi sb = zx8to32(s + 9 * R + (K / 2) * R);
            m[kk] = sign_bytes(K % 2 == 1 ? srl32<4>(sb) : sb);
          } else {
            w[kk] = lookup8<1>(grid, s + K * R);
            const vi s7 = and_v(srl32<7 * (K / 2)>(aux), set1_32(127));
            m[kk] = sign_bytes(K % 2 == 1 ? srl32<4>(with_parity(s7)) : s7);
          }
        });
        for (int y = 0; y < NC; ++y) {
          isum[y] = add32(isum[y], dot_signed<4>(w, m, a[y].q + 256 * b + 32 * I + 16 * H, sc));
        }
      });
    }
    const vf dw = kS ? load_f16(p) : mulf(load_f16(p), set1f(0.25f));
    for (int y = 0; y < NC; ++y) acc[y] = fmaf(cvtf(isum[y]), mulf(dw, set1f(a[y].d[b])), acc[y]);
  });
}

// IQ2_XXS, IQ2_XS and IQ2_S against AK activations (repack.h): groups of 8 weights, each an entry
// of the format's grid, whose two uint32 of values (2·index and 2·index + 1) are weights 0-3 and
// 4-7 of the R rows (two lookups); signs by the group (7 stored with a parity bit for XXS and XS,
// 8 for S); scale 2·ls + 1 per sub-block (XXS) or per half sub-block (XS, S), an eighth of d.
template <DType T, int NC>
void tile_iq2(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = (T == DType::IQ2_XXS ? 66 : T == DType::IQ2_XS ? 74 : 82) * R;
  const uint32_t* grid = T == DType::IQ2_XXS ? quant::kIq2xxsGridValues
                         : T == DType::IQ2_XS ? quant::kIq2xsGridValues
                                              : quant::kIq2sGridValues;
  ak_tile<kBlock>(grp, n_in, t, valid, [&](const uint8_t* p, int64_t b, const auto& a, auto& acc) PONDER_AL {
    vi isum[NC];
    for (int y = 0; y < NC; ++y) isum[y] = zeroi();
    for (int I = 0; I < 8; ++I) {
      // XXS: index bytes [4][R] | aux [R] u32. XS: scales [8][R] then [4][R] u16 per sub-block.
      // S: scales [8][R] then qs [4][R] | qh [R] | signs [4][R] per sub-block.
      const uint8_t* s = T == DType::IQ2_XXS ? p + 2 * R + I * 8 * R
                         : T == DType::IQ2_XS ? p + 10 * R + I * 8 * R
                                              : p + 10 * R + I * 9 * R;
      const vi aux = T == DType::IQ2_XXS ? loadv(s + 4 * R) : zx8to32(p + 2 * R + I * R);  // XS, S: scales
      static_for<2>([&](auto h) {
        constexpr int H = h;
        const vi ls = T == DType::IQ2_XXS ? srl32<28>(aux) : and_v(srl32<4 * H>(aux), set1_32(15));
        const vi sc = scale_from_i32(add32(sll32<1>(ls), set1_32(1)));
        vi w[4], m[4];
        static_for<2>([&](auto gg) {
          constexpr int G = 2 * H + gg;
          vi s8;
          if constexpr (T == DType::IQ2_XXS) {
            w[2 * gg] = lookup8<2>(grid, s + G * R);
            w[2 * gg + 1] = lookup8<2>(grid + 1, s + G * R);
            s8 = with_parity(and_v(srl32<7 * G>(aux), set1_32(127)));
          } else if constexpr (T == DType::IQ2_XS) {
            w[2 * gg] = lookup16<2>(grid, s + G * 2 * R, 511);
            w[2 * gg + 1] = lookup16<2>(grid + 1, s + G * 2 * R, 511);
            s8 = with_parity(srl32<9>(zx16to32(s + G * 2 * R)));
          } else {
            const vi hi = and_v(sll32<8 - 2 * G>(zx8to32(s + 4 * R)), set1_32(0x300));  // qh bits 2G, 2G+1
            const vi i2 = sll32<1>(or_v(zx8to32(s + G * R), hi));
            w[2 * gg] = lookup32<NC == 1>(grid, i2);
            w[2 * gg + 1] = lookup32<NC == 1>(grid + 1, i2);
            s8 = zx8to32(s + 5 * R + G * R);
          }
          m[2 * gg] = sign_bytes(s8);
          m[2 * gg + 1] = sign_bytes(srl32<4>(s8));
        });
        for (int y = 0; y < NC; ++y) {
          isum[y] = add32(isum[y], dot_signed<4>(w, m, a[y].q + 256 * b + 32 * I + 16 * H, sc));
        }
      });
    }
    const vf dw = mulf(load_f16(p), set1f(0.125f));
    for (int y = 0; y < NC; ++y) acc[y] = fmaf(cvtf(isum[y]), mulf(dw, set1f(a[y].d[b])), acc[y]);
  });
}

// IQ1_S against AK activations (repack.h): groups of 8 weights d·(2·ls + 1)·(g + δ) with g in
// {-1, 0, 1} from the grid by an 11-bit index (the low 8 bits in qs, 3 more in qh) and δ = ±1/8
// per sub-block (qh bit 15). The grid holds g + 1 (0..2), so the unsigned product is Σ (g + 1)·a and
// each sub-block's integer sum is 8·(Σ (g + 1)·a − Σa) ± Σa (Σa: the AK row's 32-element sums),
// times 2·ls + 1; d / 8 applies in float.
template <int NC>
void tile_iq1_s(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = 50 * R;
  const uint32_t* grid = quant::kIq1sGridValues;
  ak_tile<kBlock>(grp, n_in, t, valid, [&](const uint8_t* p, int64_t b, const auto& a, auto& acc) PONDER_AL {
    vi isum[NC];
    for (int y = 0; y < NC; ++y) isum[y] = zeroi();
    for (int I = 0; I < 8; ++I) {
      const uint8_t* s = p + 2 * R + I * 6 * R;
      const vi qh = zx16to32(s + 4 * R);
      const vi sc = add32(sll32<1>(and_v(srl32<12>(qh), set1_32(7))), set1_32(1));
      const vi neg = sub32(zeroi(), srl32<15>(qh));  // all ones where δ < 0
      vi w[8];
      static_for<4>([&](auto l) {
        constexpr int L = l;
        vi hi;  // qh bits 3L..3L+2 at bits 8..10
        if constexpr (L < 3) {
          hi = sll32<8 - 3 * L>(qh);
        } else {
          hi = srl32<1>(qh);
        }
        const vi i2 = sll32<1>(or_v(zx8to32(s + L * R), and_v(hi, set1_32(0x700))));
        w[2 * L] = lookup32<NC == 1>(grid, i2);
        w[2 * L + 1] = lookup32<NC == 1>(grid + 1, i2);
      });
      for (int y = 0; y < NC; ++y) {
        const vi bs = set1_32(a[y].bs32[8 * b + I]);
        const vi d = sll32<3>(sub32(dot_plain<8, 8>(w, a[y].q + 256 * b + 32 * I), bs));
        isum[y] = add32(isum[y], mul32(add32(d, sub32(xor_v(bs, neg), neg)), sc));
      }
    }
    const vf dw = mulf(load_f16(p), set1f(0.125f));
    for (int y = 0; y < NC; ++y) acc[y] = fmaf(cvtf(isum[y]), mulf(dw, set1f(a[y].d[b])), acc[y]);
  });
}

// IQ1_M against AK activations (repack.h): as IQ1_S, with 3-bit scales per half sub-block, δ per
// group of 8 (bit 3 of the group's qh nibble, whose bits 0-2 extend the index) and the f16 d in the
// top nibbles of the four scale words. Per-group δ has no activation sums to go with, so each
// weight becomes 8·(g + δ) = 8·(g + 1) − 8 ± 1, a signed byte (−9 … 9), for dot_signed. (IQ1_S
// could do the same, but its unsigned dot_plain with the 32-element sums is cheaper: one tile for
// both measured IQ1_S on AVX2 at 74 instead of 91 GOP/s, kernel_bench batches of 16.)
template <int NC>
void tile_iq1_m(const uint8_t* grp, int64_t n_in, const Tile<NC>& t, int valid) {
  constexpr int kBlock = 56 * R;
  const uint32_t* grid = quant::kIq1sGridValues;
  ak_tile<kBlock>(grp, n_in, t, valid, [&](const uint8_t* p, int64_t b, const auto& a, auto& acc) PONDER_AL {
    const vi w0 = zx16to32(p), w1 = zx16to32(p + 2 * R), w2 = zx16to32(p + 4 * R), w3 = zx16to32(p + 6 * R);
    const vi d16 = or_v(or_v(srl32<12>(w0), and_v(srl32<8>(w1), set1_32(0xf0))),
                        or_v(and_v(srl32<4>(w2), set1_32(0xf00)), and_v(w3, set1_32(0xf000))));
    vi isum[NC];
    for (int y = 0; y < NC; ++y) isum[y] = zeroi();
    for (int I = 0; I < 8; ++I) {
      const uint8_t* s = p + 8 * R + I * 6 * R;
      const vi sw = I < 2 ? w0 : I < 4 ? w1 : I < 6 ? w2 : w3;
      const vi q01 = zx8to32(s + 4 * R), q23 = zx8to32(s + 5 * R);
      static_for<2>([&](auto h) {  // groups 2H, 2H + 1: scale bits 6·(I % 2) + 3H
        constexpr int H = h;
        const vi ls = and_v(I % 2 == 0 ? srl32<3 * H>(sw) : srl32<6 + 3 * H>(sw), set1_32(7));
        const vi sc = scale_from_i32(add32(sll32<1>(ls), set1_32(1)));
        const vi qh = H == 0 ? q01 : q23;
        vi w[4], wabs[4];
        static_for<2>([&](auto gg) {
          constexpr int G = gg;
          const vi nib = G == 0 ? qh : srl32<4>(qh);
          const vi i2 = sll32<1>(or_v(zx8to32(s + (2 * H + G) * R), and_v(sll32<8>(nib), set1_32(0x700))));
          // −9 in every byte where δ = −1/8 (nibble bit 3), else −7.
          const vi c = xor_v(set1_32(static_cast<int>(0xf9f9f9f9u)),
                             and_v(sub32(zeroi(), and_v(srl32<3>(nib), set1_32(1))), set1_32(0x0e0e0e0e)));
          static_for<2>([&](auto k) {
            w[2 * G + k] = add8(sll16<3>(lookup32<NC == 1>(grid + k, i2)), c);
            wabs[2 * G + k] = abs8(w[2 * G + k]);
          });
        });
        for (int y = 0; y < NC; ++y) {
          isum[y] = add32(isum[y], dot_signed<4>(wabs, w, a[y].q + 256 * b + 32 * I + 16 * H, sc));
        }
      });
    }
    const vf dw = mulf(f16_lanes(d16), set1f(0.125f));
    for (int y = 0; y < NC; ++y) acc[y] = fmaf(cvtf(isum[y]), mulf(dw, set1f(a[y].d[b])), acc[y]);
  });
}

// F32 / F16 / BF16 weights against float activations: NG groups × NC rows, one FMA chain per
// output in element order (so the tile shape does not change any result).
template <DType T>
PONDER_AI vf load_w(const uint8_t* p) {
  if constexpr (T == DType::F32) {
    return loadf(reinterpret_cast<const float*>(p));
  } else if constexpr (T == DType::F16) {
    return load_f16(p);
  } else {
    return load_bf16(p);
  }
}

template <DType T, int NG, int NC>
void tile_float(const uint8_t* const* grp, int64_t n_in, const float* const* x, float* const* y, int64_t out_stride_group,
                const int* valid) {
  constexpr int kElem = T == DType::F32 ? 4 : 2;
  vf acc[NG][NC];
  for (int g = 0; g < NG; ++g) {
    for (int c = 0; c < NC; ++c) acc[g][c] = zerof();
  }
  for (int64_t k = 0; k < n_in; ++k) {
    for (int g = 0; g < NG; ++g) {
      const vf w = load_w<T>(grp[g] + k * kElem * R);
      for (int c = 0; c < NC; ++c) acc[g][c] = fmaf(w, set1f(x[c][k]), acc[g][c]);
    }
  }
  for (int g = 0; g < NG; ++g) {
    for (int c = 0; c < NC; ++c) store_rows(y[c] + g * out_stride_group, acc[g][c], valid[g]);
  }
}

template <DType T>
void matmul_float(const MatmulArgs& m, int64_t g_begin, int64_t g_end) {
  const int64_t group_bytes = m.group_bytes;
  auto valid_of = [&](int64_t g) { return static_cast<int>(min64(R, m.n_out - g * R)); };
  for (int64_t y0 = 0; y0 < m.n_rows;) {
    const int64_t nc = m.n_rows - y0 >= 6 ? 6 : m.n_rows - y0 >= 3 ? 3 : 1;
    const float* x[6];
    float* yo[6];
    for (int c = 0; c < nc; ++c) {
      x[c] = reinterpret_cast<const float*>(m.act + (y0 + c) * m.act_stride);
      yo[c] = m.y + (y0 + c) * m.n_out;
    }
    int64_t g = g_begin;
    if (nc == 1) {
      // One activation row: four groups at once, so four FMA chains are in flight.
      for (; g + 4 <= g_end; g += 4) {
        const uint8_t* gp[4];
        int valid[4];
        for (int i = 0; i < 4; ++i) {
          gp[i] = m.packed + (g + i) * group_bytes;
          valid[i] = valid_of(g + i);
        }
        float* yg[1] = {yo[0] + g * R};
        tile_float<T, 4, 1>(gp, m.n_in, x, yg, R, valid);
      }
    }
    for (; g < g_end; ++g) {
      const uint8_t* gp[1] = {m.packed + g * group_bytes};
      const int valid[1] = {valid_of(g)};
      float* yg[6];
      for (int c = 0; c < nc; ++c) yg[c] = yo[c] + g * R;
      if (nc == 6) {
        tile_float<T, 1, 6>(gp, m.n_in, x, yg, R, valid);
      } else if (nc == 3) {
        tile_float<T, 1, 3>(gp, m.n_in, x, yg, R, valid);
      } else {
        tile_float<T, 1, 1>(gp, m.n_in, x, yg, R, valid);
      }
    }
    y0 += nc;
  }
}

template <int NC>
void run_tile(DType t, const uint8_t* grp, int64_t n_in, const Tile<NC>& tile, int valid) {
  switch (t) {
    case DType::Q4_0: tile_legacy<DType::Q4_0, NC>(grp, n_in, tile, valid); break;
    case DType::Q4_1: tile_legacy<DType::Q4_1, NC>(grp, n_in, tile, valid); break;
    case DType::Q5_0: tile_legacy<DType::Q5_0, NC>(grp, n_in, tile, valid); break;
    case DType::Q5_1: tile_legacy<DType::Q5_1, NC>(grp, n_in, tile, valid); break;
    case DType::Q8_0: tile_q8_0<NC>(grp, n_in, tile, valid); break;
    case DType::Q2_K: tile_q2_k<NC>(grp, n_in, tile, valid); break;
    case DType::Q3_K: tile_q3_k<NC>(grp, n_in, tile, valid); break;
    case DType::Q4_K: tile_q45_k<false, NC>(grp, n_in, tile, valid); break;
    case DType::Q5_K: tile_q45_k<true, NC>(grp, n_in, tile, valid); break;
    case DType::Q6_K: tile_q6_k<NC>(grp, n_in, tile, valid); break;
    case DType::IQ4_NL: tile_iq4_nl<NC>(grp, n_in, tile, valid); break;
    case DType::IQ4_XS: tile_iq4_xs<NC>(grp, n_in, tile, valid); break;
    case DType::IQ3_S: tile_iq3<DType::IQ3_S, NC>(grp, n_in, tile, valid); break;
    case DType::IQ3_XXS: tile_iq3<DType::IQ3_XXS, NC>(grp, n_in, tile, valid); break;
    case DType::IQ2_XXS: tile_iq2<DType::IQ2_XXS, NC>(grp, n_in, tile, valid); break;
    case DType::IQ2_XS: tile_iq2<DType::IQ2_XS, NC>(grp, n_in, tile, valid); break;
    case DType::IQ2_S: tile_iq2<DType::IQ2_S, NC>(grp, n_in, tile, valid); break;
    case DType::IQ1_S: tile_iq1_s<NC>(grp, n_in, tile, valid); break;
    case DType::IQ1_M: tile_iq1_m<NC>(grp, n_in, tile, valid); break;
    default: break;
  }
}

template <int NC>
void tile_rows(const MatmulArgs& m, int64_t g, int64_t y0, int valid, int64_t group_bytes, bool first) {
  Tile<NC> t;
  t.prefetch = first;
  for (int c = 0; c < NC; ++c) {
    t.a[c] = m.act + (y0 + c) * m.act_stride;
    t.y[c] = m.y + (y0 + c) * m.n_out + g * R;
  }
  run_tile<NC>(m.dtype, m.packed + g * group_bytes, m.n_in, t, valid);
}

// Rows [y0, y1) against group g alone.
void rows_one_group(const MatmulArgs& m, int64_t g, int64_t y0, int64_t y1, int64_t group_bytes) {
  const int valid = static_cast<int>(min64(R, m.n_out - g * R));
  const int64_t start = y0;
  for (; y0 + kMaxNc <= y1; y0 += kMaxNc) tile_rows<kMaxNc>(m, g, y0, valid, group_bytes, y0 == start);
  const bool first = y0 == start;
  switch (y1 - y0) {
    case 0: break;
    case 1: tile_rows<1>(m, g, y0, valid, group_bytes, first); break;
    case 2: tile_rows<2>(m, g, y0, valid, group_bytes, first); break;
    case 3: tile_rows<3>(m, g, y0, valid, group_bytes, first); break;
    case 4: tile_rows<4>(m, g, y0, valid, group_bytes, first); break;
    case 5: tile_rows<5 <= kMaxNc ? 5 : 1>(m, g, y0, valid, group_bytes, first); break;
    case 6: tile_rows<6 <= kMaxNc ? 6 : 1>(m, g, y0, valid, group_bytes, first); break;
    case 7: tile_rows<7 <= kMaxNc ? 7 : 1>(m, g, y0, valid, group_bytes, first); break;
    default: break;
  }
}

void matmul(const MatmulArgs& m, int64_t g_begin, int64_t g_end) {
  switch (m.dtype) {
    case DType::F32: return matmul_float<DType::F32>(m, g_begin, g_end);
    case DType::F16: return matmul_float<DType::F16>(m, g_begin, g_end);
    case DType::BF16: return matmul_float<DType::BF16>(m, g_begin, g_end);
    default: break;
  }
  const int64_t group_bytes = m.group_bytes;
  // Rows of activations per slice: their quantized bytes stay in L2 while the groups sweep by.
  int64_t slice = (192 * 1024) / (m.act_stride > 0 ? m.act_stride : 1);
  slice = slice < kMaxNc ? kMaxNc : slice / kMaxNc * kMaxNc;
  for (int64_t s0 = 0; s0 < m.n_rows; s0 += slice) {
    const int64_t s1 = min64(m.n_rows, s0 + slice);
    for (int64_t g = g_begin; g < g_end; ++g) rows_one_group(m, g, s0, s1, group_bytes);
  }
}

// ---------------------------------------------------------------------------------------------
// Element-wise ops.

float dot(const float* a, const float* b, int64_t n) {
  vf s0 = zerof(), s1 = zerof(), s2 = zerof(), s3 = zerof();
  int64_t i = 0;
  for (; i + 4 * R <= n; i += 4 * R) {
    s0 = fmaf(loadf(a + i), loadf(b + i), s0);
    s1 = fmaf(loadf(a + i + R), loadf(b + i + R), s1);
    s2 = fmaf(loadf(a + i + 2 * R), loadf(b + i + 2 * R), s2);
    s3 = fmaf(loadf(a + i + 3 * R), loadf(b + i + 3 * R), s3);
  }
  for (; i + R <= n; i += R) s0 = fmaf(loadf(a + i), loadf(b + i), s0);
  float s = hsumf(addf(addf(s0, s1), addf(s2, s3)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void rms_norm(const float* x, const float* w, float* y, int64_t dim, float eps) {
  vf s0 = zerof(), s1 = zerof();
  int64_t i = 0;
  for (; i + 2 * R <= dim; i += 2 * R) {
    const vf a = loadf(x + i), b = loadf(x + i + R);
    s0 = fmaf(a, a, s0);
    s1 = fmaf(b, b, s1);
  }
  for (; i + R <= dim; i += R) s0 = fmaf(loadf(x + i), loadf(x + i), s0);
  float sum = hsumf(addf(s0, s1));
  for (; i < dim; ++i) sum += x[i] * x[i];
  const float inv = 1.0f / __builtin_sqrtf(sum / static_cast<float>(dim) + eps);
  const vf vinv = set1f(inv);
  i = 0;
  for (; i + R <= dim; i += R) storef(y + i, mulf(mulf(loadf(x + i), vinv), loadf(w + i)));
  for (; i < dim; ++i) y[i] = x[i] * inv * w[i];
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + R <= n; i += R) {
    const vf g = loadf(gate + i);
    const vf e = exp_v(subf(zerof(), g));
    storef(out + i, mulf(divf(g, addf(set1f(1.0f), e)), loadf(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + __builtin_expf(-gate[i])) * up[i];
}

void add(float* x, const float* y, int64_t n) {
  int64_t i = 0;
  for (; i + R <= n; i += R) storef(x + i, addf(loadf(x + i), loadf(y + i)));
  for (; i < n; ++i) x[i] += y[i];
}

// cs: cos[half] then sin[half].
void rope(float* x, int64_t n_heads, int64_t head_dim, const float* cs, bool interleaved) {
  const int64_t half = head_dim / 2;
  const float* c = cs;
  const float* s = cs + half;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    if (interleaved) {
      for (int64_t i = 0; i < half; ++i) {
        const float x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = x0 * c[i] - x1 * s[i];
        v[2 * i + 1] = x0 * s[i] + x1 * c[i];
      }
      continue;
    }
    int64_t i = 0;
    for (; i + R <= half; i += R) {
      const vf x0 = loadf(v + i), x1 = loadf(v + i + half), cv = loadf(c + i), sv = loadf(s + i);
      storef(v + i, fnmaf(x1, sv, mulf(x0, cv)));
      storef(v + i + half, fmaf(x1, cv, mulf(x0, sv)));
    }
    for (; i < half; ++i) {
      const float x0 = v[i], x1 = v[i + half];
      v[i] = x0 * c[i] - x1 * s[i];
      v[i + half] = x0 * s[i] + x1 * c[i];
    }
  }
}

void to_f16(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + R <= n; i += R) store_f16(out + i, loadf(x + i));
  if (i < n) {
    alignas(64) float tmp[R] = {};
    alignas(64) uint16_t h[R];
    for (int64_t j = i; j < n; ++j) tmp[j - i] = x[j];
    store_f16(h, loadf(tmp));
    for (int64_t j = i; j < n; ++j) out[j] = h[j - i];
  }
}

#include "kernels/cpu/kernels_attention_impl.h"

// ---------------------------------------------------------------------------------------------
// Probes of the machine's ceilings (ponder bench).

int64_t probe_read(const uint8_t* p, int64_t bytes) {
  vi a0 = zeroi(), a1 = zeroi(), a2 = zeroi(), a3 = zeroi();
  for (int64_t i = 0; i + 16 * R <= bytes; i += 16 * R) {
    a0 = add32(a0, loadv(p + i));
    a1 = add32(a1, loadv(p + i + 4 * R));
    a2 = add32(a2, loadv(p + i + 8 * R));
    a3 = add32(a3, loadv(p + i + 12 * R));
  }
  return hsum_i(add32(add32(a0, a1), add32(a2, a3)));
}

// The int8 ceiling: the Q4_K tile's arithmetic without its loads and unpacking, i.e. kMaxNc
// activation rows × one sub-block of 32 quants of R rows, per row the int8 dot product (dot_regs:
// the instructions of dot_scaled, activations already broadcast) and the scaled int32
// accumulation, with weights and activations in registers.
int64_t probe_int8(int64_t iters) {
  vi w[8], a[kMaxNc], acc[kMaxNc];
  for (int g = 0; g < 8; ++g) w[g] = set1_8(static_cast<char>(g + 1));
  for (int y = 0; y < kMaxNc; ++y) {
    a[y] = set1_8(static_cast<char>(y - 3));
    acc[y] = zeroi();
  }
  const vi sc = scale_from_byte(set1_32(3), 0);
  for (int64_t it = 0; it < iters; ++it) {
    for (int y = 0; y < kMaxNc; ++y) {
      __asm__ volatile("" : "+v"(a[y]));  // keeps the compiler from hoisting the invariant products
      acc[y] = add32(acc[y], dot_regs<8, 8>(w, a[y], sc));
    }
  }
  vi total = zeroi();
  for (int y = 0; y < kMaxNc; ++y) total = add32(total, acc[y]);
  volatile int32_t sink = hsum_i(total);
  (void)sink;
  return iters * kMaxNc * 32 * R;
}

}  // namespace impl

constexpr KernelTable kTable = {
    kIsa,           R,         impl::kQ8_0Act, impl::quantize_row,  impl::matmul,    impl::dot,        impl::rms_norm,
    impl::silu_mul, impl::add, impl::rope,     impl::to_f16,        impl::quantize_q8_0,
    impl::attention, impl::probe_read, impl::probe_int8,
};
