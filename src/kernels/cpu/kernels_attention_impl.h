// Attention over the paged KV cache, and the cache's q8_0 quantizer: part of kernels_impl.h (included
// there, inside namespace impl, after the primitives; the same rules apply: nothing with inline
// functions of its own may be included).
//
// One task is a tile of consecutive tokens of a sequence × one KV head; its query rows (tokens ×
// the heads sharing the KV head) meet each KV block once, as f32 values (widened from f16, or
// dequantized from q8_0 with the same float product as quant::dequantize_row, so every cache type
// gives the reference's values); then the scores, an online softmax and the weighted sum of V
// follow. Two layouts of the work:
//  - many query rows (prefill tiles, attention_lanes): K and V made f32 rows in scratch once per
//    block (an f32 cache is read in place), rows in the lanes of vectors, so the softmax is
//    lane-wise and both products are register tiles of broadcast K or V values against query or
//    probability vectors, as the matmul tiles are (kernel_bench Attention/prefill/<kv>/512, the 1.5B
//    shape on one Zen 5 thread, against K transposed per block and a softmax row by row: f16
//    6.2 → 4.2 ms, f32 7.6 → 4.0 ms per layer);
//  - few (decode, attention_rows): rows as rows, the cache read in place; K transposed per block,
//    so that a row's scores for R positions are one vector of broadcast query values against K^T,
//    and the weighted sum of V for several rows per V load (kernel_bench Attention/decode/<kv>/2048,
//    one Zen 5 thread, against a dot product and a horizontal sum per score and one row at a time
//    over f32 copies of the block: f16 199 → 97 µs, q8_0 186 → 101, f32 208 → 114).

// ---------------------------------------------------------------------------------------------
// The KV cache's q8_0 rows: ggml's quantize_row_q8_0_ref bit for bit (d = amax / 127 in float,
// q = roundf(x · (1 / d)), rounding half away from zero, d stored as f16 by round-to-nearest-even).

void quantize_q8_0(const float* x, uint8_t* out, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, out += 34, x += 32) {
    const float amax = absmax(x, 32);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t dh = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    __builtin_memcpy(out, &dh, 2);
    for (int i = 0; i < 32; i += R) {
      // roundf(v) = trunc(v) + trunc(2 · (v - trunc(v))): both steps are exact in float, and the
      // second is ±1 exactly when the fraction's magnitude is at least one half.
      const vf v = mulf(loadf(x + i), set1f(id));
      const vf whole = truncf_v(v);
      const vf q = addf(whole, truncf_v(mulf(subf(v, whole), set1f(2.0f))));
      store_i8(reinterpret_cast<int8_t*>(out + 2 + i), cvti(q));
    }
  }
}

// Bytes of one cache row of hd values.
template <DType T>
constexpr int64_t kv_row_bytes(int64_t hd) {
  return T == DType::Q8_0 ? hd / 32 * 34 : hd * (T == DType::F32 ? 4 : 2);
}

// Elements d..d+R of a cache row as f32: f16 widened, q8_0 as q · d, the float product
// quant::dequantize_row computes (R divides 32, so the R elements lie in one block).
template <DType T>
PONDER_AI vf kv_vec(const uint8_t* row, int64_t d) {
  if constexpr (T == DType::F32) {
    return loadf(reinterpret_cast<const float*>(row) + d);
  } else if constexpr (T == DType::F16) {
    return load_f16(row + 2 * d);
  } else {
    const uint8_t* blk = row + 34 * (d / 32);
    uint16_t dh;
    __builtin_memcpy(&dh, blk, 2);
    return mulf(cvtf(sx8to32(blk + 2 + d % 32)), set1f(f16_to_f32(dh)));
  }
}

// Element d of a cache row as f32, as kv_vec: for the head-dim tail past the last whole vector.
template <DType T>
PONDER_AI float kv_elem(const uint8_t* row, int64_t d) {
  if constexpr (T == DType::F32) {
    float x;
    __builtin_memcpy(&x, row + 4 * d, 4);
    return x;
  } else if constexpr (T == DType::F16) {
    uint16_t h;
    __builtin_memcpy(&h, row + 2 * d, 2);
    return f16_to_f32(h);
  } else {
    const uint8_t* blk = row + 34 * (d / 32);
    uint16_t dh;
    __builtin_memcpy(&dh, blk, 2);
    return static_cast<float>(static_cast<int8_t>(blk[2 + d % 32])) * f16_to_f32(dh);
  }
}

// Rows [row0, row0 + cnt) of a cache as f32 rows (cnt, hd) into dst.
template <DType T>
PONDER_AI void widen_rows(const void* cache, int64_t row0, int64_t cnt, int64_t hd, float* dst) {
  const int64_t row_bytes = kv_row_bytes<T>(hd);
  const auto* src = static_cast<const uint8_t*>(cache) + row0 * row_bytes;
  for (int64_t j = 0; j < cnt; ++j, dst += hd) {
    const uint8_t* row = src + j * row_bytes;
    int64_t d = 0;
    for (; d + R <= hd; d += R) storef(dst + d, kv_vec<T>(row, d));
    for (; d < hd; ++d) dst[d] = kv_elem<T>(row, d);
  }
}

// The cache row (of head_dim values) where the task's KV head begins in physical block `block`.
PONDER_AI int64_t block_first_row(const AttentionTask& t, int64_t block) {
  return (block * t.n_kv_heads + t.kv_head) * t.block_size;
}

// One KV block of the task's head as f32 rows (cnt, hd): K into kb and V into vb, or in place for
// an f32 cache.
struct KvBlockF32 {
  const float* k;
  const float* v;
};

KvBlockF32 load_kv_block(const AttentionTask& t, int64_t block, int64_t cnt, float* kb, float* vb) {
  const int64_t hd = t.head_dim;
  const int64_t row0 = block_first_row(t, block);
  if (t.kv_dtype == DType::F32) {
    return {static_cast<const float*>(t.k) + row0 * hd, static_cast<const float*>(t.v) + row0 * hd};
  }
  if (t.kv_dtype == DType::Q8_0) {
    widen_rows<DType::Q8_0>(t.k, row0, cnt, hd, kb);
    widen_rows<DType::Q8_0>(t.v, row0, cnt, hd, vb);
  } else {
    widen_rows<DType::F16>(t.k, row0, cnt, hd, kb);
    widen_rows<DType::F16>(t.v, row0, cnt, hd, vb);
  }
  return {kb, vb};
}

// Up to this many query rows per task, attention_rows; more, attention_lanes.
constexpr int64_t kRowsDirect = 8;

// K rows [0, cnt) of a block (cache rows row_bytes apart) as K^T (hd, bsp) into kt: R positions
// × R elements of the head per register transpose; positions cnt..bsp are zero.
template <DType T>
PONDER_AI void transpose_k(const uint8_t* k, int64_t row_bytes, int64_t cnt, int64_t hd, int64_t bsp, float* kt) {
  const int64_t hd_whole = hd / R * R;
  for (int64_t j0 = 0; j0 < bsp; j0 += R) {
    for (int64_t d0 = 0; d0 < hd_whole; d0 += R) {
      vf v[R];
      for (int i = 0; i < R; ++i) v[i] = j0 + i < cnt ? kv_vec<T>(k + (j0 + i) * row_bytes, d0) : zerof();
      transpose_rr(v);
      for (int i = 0; i < R; ++i) storef(kt + (d0 + i) * bsp + j0, v[i]);
    }
    for (int64_t d = hd_whole; d < hd; ++d) {
      for (int i = 0; i < R; ++i) kt[d * bsp + j0 + i] = j0 + i < cnt ? kv_elem<T>(k + (j0 + i) * row_bytes, d) : 0.0f;
    }
  }
}

// Scores of NR query rows q[0..NR) against K^T (hd, bsp): per R positions, Σ_d q[r][d] · K^T[d]
// with q[r][d] broadcast, two FMA chains per row (even and odd d), into sc (NR, bsp).
template <int NR>
void scores_kt(const float* const* q, const float* kt, int64_t hd, int64_t bsp, float scale, float* sc,
               int64_t sc_stride) {
  for (int64_t j0 = 0; j0 < bsp; j0 += R) {
    vf s[NR][2];
    for (int r = 0; r < NR; ++r) s[r][0] = s[r][1] = zerof();
    int64_t d = 0;
    for (; d + 2 <= hd; d += 2) {
      const vf k0 = loadf(kt + d * bsp + j0), k1 = loadf(kt + (d + 1) * bsp + j0);
      for (int r = 0; r < NR; ++r) {
        s[r][0] = fmaf(set1f(q[r][d]), k0, s[r][0]);
        s[r][1] = fmaf(set1f(q[r][d + 1]), k1, s[r][1]);
      }
    }
    if (d < hd) {
      const vf k0 = loadf(kt + d * bsp + j0);
      for (int r = 0; r < NR; ++r) s[r][0] = fmaf(set1f(q[r][d]), k0, s[r][0]);
    }
    for (int r = 0; r < NR; ++r) storef(sc + r * sc_stride + j0, mulf(addf(s[r][0], s[r][1]), set1f(scale)));
  }
}

// NR rows of acc (hd each) = acc · corr[r] + Σ_{j < n} p[r][j] · V[j] (cache rows row_bytes
// apart): DV vectors of the head at a time for all NR rows, so every V vector is read once per
// row group; per element, the FMA order of one row alone.
template <DType T, int NR>
void pv_rows(float* acc, const float* corr, const float* p, int64_t p_stride, const uint8_t* v, int64_t row_bytes,
             int64_t n, int64_t hd) {
  constexpr int kRegs = R == 16 ? 24 : 10;  // accumulators that fit beside the V vectors
  int64_t d = 0;
  auto chunk = [&]<int DV>(std::integral_constant<int, DV>) {
    for (; d + DV * R <= hd; d += DV * R) {
      vf a[NR][DV];
      for (int r = 0; r < NR; ++r) {
        for (int i = 0; i < DV; ++i) a[r][i] = mulf(loadf(acc + r * hd + d + i * R), set1f(corr[r]));
      }
      for (int64_t j = 0; j < n; ++j) {
        vf vv[DV];
        for (int i = 0; i < DV; ++i) vv[i] = kv_vec<T>(v + j * row_bytes, d + i * R);
        for (int r = 0; r < NR; ++r) {
          const vf pj = set1f(p[r * p_stride + j]);
          for (int i = 0; i < DV; ++i) a[r][i] = fmaf(pj, vv[i], a[r][i]);
        }
      }
      for (int r = 0; r < NR; ++r) {
        for (int i = 0; i < DV; ++i) storef(acc + r * hd + d + i * R, a[r][i]);
      }
    }
  };
  chunk(std::integral_constant<int, (kRegs / NR < 4 ? kRegs / NR : 4)>{});
  chunk(std::integral_constant<int, 1>{});
  for (; d < hd; ++d) {
    for (int r = 0; r < NR; ++r) {
      float a = acc[r * hd + d] * corr[r];
      for (int64_t j = 0; j < n; ++j) a += p[r * p_stride + j] * kv_elem<T>(v + j * row_bytes, d);
      acc[r * hd + d] = a;
    }
  }
}

// Calls f(r0, std::integral_constant<int, NR>) for consecutive groups of rows [r0, r0 + NR) covering
// [0, n_rows), NR at most kRowsDirect (AVX-512) or 4 (AVX2, for its sixteen registers).
template <class F>
PONDER_AI void for_row_groups(int64_t n_rows, F&& f) {
  constexpr int64_t kMax = R == 16 ? kRowsDirect : 4;
  for (int64_t r0 = 0; r0 < n_rows; r0 += kMax) {
    switch (min64(kMax, n_rows - r0)) {
      case 1: f(r0, std::integral_constant<int, 1>{}); break;
      case 2: f(r0, std::integral_constant<int, 2>{}); break;
      case 3: f(r0, std::integral_constant<int, 3>{}); break;
      case 4: f(r0, std::integral_constant<int, 4>{}); break;
      case 5: f(r0, std::integral_constant<int, 5 <= kMax ? 5 : 1>{}); break;
      case 6: f(r0, std::integral_constant<int, 6 <= kMax ? 6 : 1>{}); break;
      case 7: f(r0, std::integral_constant<int, 7 <= kMax ? 7 : 1>{}); break;
      case 8: f(r0, std::integral_constant<int, 8 <= kMax ? 8 : 1>{}); break;
      default: break;
    }
  }
}

// Scores of NCH chunks of R query rows (their Q^T: (hd, R) each, chunk after chunk) against K rows
// (cnt, hd) into st: (NCH, cnt, R) at st_stride floats per chunk. NCH × NJ positions accumulate in
// registers: per element of the head, NCH query loads and NJ broadcast K values feed NCH · NJ FMAs.
template <int NCH>
void scores_lanes(const float* qt, int64_t hd, const float* k, int64_t cnt, float scale, float* st,
                  int64_t st_stride) {
  constexpr int NJ = (R == 16 ? 16 : 8) / NCH;
  for (int64_t j0 = 0; j0 < cnt; j0 += NJ) {
    const float* kr[NJ];
    for (int j = 0; j < NJ; ++j) kr[j] = k + min64(j0 + j, cnt - 1) * hd;
    vf s[NCH][NJ];
    for (int c = 0; c < NCH; ++c) {
      for (int j = 0; j < NJ; ++j) s[c][j] = zerof();
    }
    for (int64_t d = 0; d < hd; ++d) {
      vf q[NCH];
      for (int c = 0; c < NCH; ++c) q[c] = loadf(qt + (c * hd + d) * R);
      for (int j = 0; j < NJ; ++j) {
        const vf kv = set1f(kr[j][d]);
        for (int c = 0; c < NCH; ++c) s[c][j] = fmaf(kv, q[c], s[c][j]);
      }
    }
    for (int c = 0; c < NCH; ++c) {
      for (int j = 0; j < NJ && j0 + j < cnt; ++j) storef(st + c * st_stride + (j0 + j) * R, mulf(s[c][j], set1f(scale)));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Attention (see the top of this file).

// p rounded up to a 64-byte boundary (attention_scratch_floats allows 16 floats for each).
PONDER_AI float* aligned(float* p) { return p + (16 - (reinterpret_cast<uintptr_t>(p) / 4) % 16) % 16; }

// Offset in q and out of query row r of the task (token r / group, its head in the KV head's group).
PONDER_AI int64_t head_offset(const AttentionTask& t, int64_t r) {
  return (r / t.group) * t.row_stride + (t.kv_head * t.group + r % t.group) * t.head_dim;
}

// Few query rows (decode: one token's group of heads), reading the cache in place (kv_vec). Per
// block, K turned into K^T once for all rows, so a row's scores for R positions are one vector
// (scores_kt, no horizontal sums), then an online softmax per row over the block's positions
// padded to whole vectors, and the weighted sum of V for groups of rows at once (pv_rows).
// Scratch: acc (n_rows, hd) | K^T (hd, bsp) | scores (n_rows, bsp).
template <DType T>
void attention_rows(const AttentionTask& t, float* acc) {
  const int64_t hd = t.head_dim, bs = t.block_size;
  const int64_t bsp = (bs + R - 1) / R * R;
  const int64_t n_rows = t.n_tokens * t.group;
  const int64_t row_bytes = kv_row_bytes<T>(hd);
  float* kt = aligned(acc + n_rows * hd);
  float* sc = aligned(kt + hd * bsp);
  for (int64_t i = 0; i < n_rows * hd; ++i) acc[i] = 0.0f;
  const float* q[kRowsDirect];
  float m[kRowsDirect], corr[kRowsDirect];
  vf l[kRowsDirect];  // per row, the softmax denominator's partial sums by lane
  for (int64_t r = 0; r < n_rows; ++r) {
    q[r] = t.q + head_offset(t, r);
    m[r] = -__builtin_inff();
    l[r] = zerof();
  }
  const int32_t last = t.positions[t.n_tokens - 1];
  for (int64_t bi = 0; bi <= last / bs; ++bi) {
    const int64_t p0 = bi * bs;
    const int64_t cnt = min64(bs, last - p0 + 1);
    const int64_t row0 = block_first_row(t, t.block_table[bi]);
    const uint8_t* k = static_cast<const uint8_t*>(t.k) + row0 * row_bytes;
    const uint8_t* v = static_cast<const uint8_t*>(t.v) + row0 * row_bytes;
    transpose_k<T>(k, row_bytes, cnt, hd, bsp, kt);
    for_row_groups(n_rows, [&]<int NR>(int64_t r0, std::integral_constant<int, NR>) {
      scores_kt<NR>(q + r0, kt, hd, bsp, t.scale, sc + r0 * bsp, bsp);
    });
    int64_t n_pv = 0;  // positions any row sees
    for (int64_t r = 0; r < n_rows; ++r) {
      const int32_t pos = t.positions[r / t.group];
      float* srow = sc + r * bsp;
      const int64_t valid = pos < p0 ? 0 : min64(cnt, pos - p0 + 1);
      if (valid == 0) {  // the whole block is after this row's token: no change
        corr[r] = 1.0f;
        for (int64_t j = 0; j < bsp; ++j) srow[j] = 0.0f;
        continue;
      }
      n_pv = valid > n_pv ? valid : n_pv;
      for (int64_t j = valid; j < bsp; ++j) srow[j] = -__builtin_inff();  // masked: out of the max
      vf mx = loadf(srow);
      for (int64_t j = R; j < bsp; j += R) mx = maxf(mx, loadf(srow + j));
      const float mb = hmaxf(mx);
      const float m_new = mb > m[r] ? mb : m[r];
      // Once the running maximum settles, most blocks leave it where it was.
      corr[r] = m_new == m[r] ? 1.0f : __builtin_expf(m[r] - m_new);
      for (int64_t j = 0; j < bsp; j += R) storef(srow + j, exp_v(subf(loadf(srow + j), set1f(m_new))));
      for (int64_t j = valid; j < bsp; ++j) srow[j] = 0.0f;
      vf sum = mulf(l[r], set1f(corr[r]));
      for (int64_t j = 0; j < bsp; j += R) sum = addf(sum, loadf(srow + j));
      l[r] = sum;
      m[r] = m_new;
    }
    for_row_groups(n_rows, [&]<int NR>(int64_t r0, std::integral_constant<int, NR>) {
      pv_rows<T, NR>(acc + r0 * hd, corr + r0, sc + r0 * bsp, bsp, v, row_bytes, n_pv, hd);
    });
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    float* o = t.out + head_offset(t, r);
    const float inv = 1.0f / hsumf(l[r]);
    for (int64_t d = 0; d < hd; ++d) o[d] = acc[r * hd + d] * inv;
  }
}

// The running output of NCH chunks, at (NCH, hd, R) (row-in-lane, like Q^T), rescaled by corr
// (NCH, R) and plus Σ_j P^T[j] · V[j][d] for the probabilities p (NCH, cnt, R; p_stride floats per
// chunk) and V rows (cnt, hd): NCH × ND elements of the head accumulate in registers, per position
// NCH probability loads and ND broadcast V values feeding NCH · ND FMAs, as scores_lanes.
template <int NCH>
void pv_lanes(const float* p, int64_t p_stride, const float* v, int64_t cnt, int64_t hd, const float* corr,
              float* out) {
  constexpr int ND = (R == 16 ? 16 : 8) / NCH;
  for (int64_t d0 = 0; d0 < hd; d0 += ND) {
    int64_t dc[ND];  // the elements of this step (the last step repeats hd - 1 where hd % ND != 0)
    for (int i = 0; i < ND; ++i) dc[i] = min64(d0 + i, hd - 1);
    vf a[NCH][ND];
    for (int c = 0; c < NCH; ++c) {
      const vf cr = loadf(corr + c * R);
      for (int i = 0; i < ND; ++i) a[c][i] = mulf(loadf(out + (c * hd + dc[i]) * R), cr);
    }
    for (int64_t j = 0; j < cnt; ++j) {
      vf pj[NCH];
      for (int c = 0; c < NCH; ++c) pj[c] = loadf(p + c * p_stride + j * R);
      const float* vr = v + j * hd;
      for (int i = 0; i < ND; ++i) {
        const vf vv = set1f(vr[dc[i]]);
        for (int c = 0; c < NCH; ++c) a[c][i] = fmaf(vv, pj[c], a[c][i]);
      }
    }
    for (int c = 0; c < NCH; ++c) {
      for (int i = 0; i < ND && d0 + i < hd; ++i) storef(out + (c * hd + d0 + i) * R, a[c][i]);
    }
  }
}

// Many query rows (prefill tiles): the rows lie in the lanes of vectors, chunks of R, so that the
// online softmax runs lane-wise with no horizontal reduction, and K and V stay in rows: a score
// vector is Σ_d K[j][d] · Q^T[d] and an output vector Σ_j V[j][d] · P^T[j], K and V broadcast. Q^T
// is built once per task, the output turned back into rows once at the end. Causal masking in a
// block that some of a chunk's rows must not fully see: mask 0 or 1 per lane and position; a
// masked score becomes -kHuge (out of the max) and its probability exactly 0.
// Scratch: Q^T, output (chunks, hd, R) each | m, l, positions, corr (chunks, R) | K, V rows (bs, hd)
// each | scores then probabilities (2, bs, R).
void attention_lanes(const AttentionTask& t, float* qt) {
  const int64_t hd = t.head_dim, bs = t.block_size;
  const int64_t n_rows = t.n_tokens * t.group;
  const int64_t n_ch = (n_rows + R - 1) / R;
  float* ot = qt + n_ch * hd * R;
  float* mv = ot + n_ch * hd * R;
  float* lv = mv + n_ch * R;
  float* posv = lv + n_ch * R;
  float* corr = posv + n_ch * R;
  float* kb = aligned(corr + n_ch * R);
  float* vb = aligned(kb + bs * hd);
  float* st = aligned(vb + bs * hd);
  constexpr float kHuge = 1e30f;
  const int64_t hd_whole = hd / R * R;  // columns transposed R × R in registers; the rest one by one
  for (int64_t c = 0; c < n_ch; ++c) {
    const float* q[R];
    for (int i = 0; i < R; ++i) {
      const int64_t r = c * R + i;
      // Padding lanes: position -1 (no key is visible), zero queries.
      posv[c * R + i] = r < n_rows ? static_cast<float>(t.positions[r / t.group]) : -1.0f;
      q[i] = r < n_rows ? t.q + head_offset(t, r) : nullptr;
      for (int64_t d = hd_whole; d < hd; ++d) qt[(c * hd + d) * R + i] = q[i] ? q[i][d] : 0.0f;
    }
    for (int64_t d0 = 0; d0 < hd_whole; d0 += R) {
      vf v[R];
      for (int i = 0; i < R; ++i) v[i] = q[i] ? loadf(q[i] + d0) : zerof();
      transpose_rr(v);
      for (int j = 0; j < R; ++j) storef(qt + (c * hd + d0 + j) * R, v[j]);
    }
    storef(mv + c * R, set1f(-__builtin_inff()));
    storef(lv + c * R, zerof());
  }
  for (int64_t i = 0; i < n_ch * hd * R; i += R) storef(ot + i, zerof());
  // Positions of a chunk's first and last rows (rows are in token order).
  auto first_pos = [&](int64_t c) { return t.positions[c * R / t.group]; };
  auto last_pos = [&](int64_t c) { return t.positions[min64(c * R + R - 1, n_rows - 1) / t.group]; };

  // Chunk c's scores s (cnt, R) over the block at p0 become probabilities in place; its running
  // max and sum move, and its output's rescaling goes to corr.
  auto softmax = [&](int64_t c, float* s, int64_t p0, int64_t cnt) {
    const bool full = first_pos(c) >= p0 + cnt - 1;  // every row sees every position
    const vf pv = loadf(posv + c * R);
    auto mask = [&](int64_t j) {  // 1 where the row sees position p0 + j, else 0
      return minf(maxf(addf(subf(pv, set1f(static_cast<float>(p0 + j))), set1f(1.0f)), zerof()), set1f(1.0f));
    };
    vf mx = set1f(-kHuge);
    for (int64_t j = 0; j < cnt; ++j) {
      vf x = loadf(s + j * R);
      if (!full) {
        const vf k = mask(j);
        x = fmaf(x, k, fmaf(k, set1f(kHuge), set1f(-kHuge)));
        storef(s + j * R, x);
      }
      mx = maxf(mx, x);
    }
    const vf m_old = loadf(mv + c * R);
    const vf m_new = maxf(m_old, mx);
    const vf cr = exp_v(subf(m_old, m_new));
    vf sum = zerof();
    for (int64_t j = 0; j < cnt; ++j) {
      vf p = exp_v(subf(loadf(s + j * R), m_new));
      if (!full) p = mulf(p, mask(j));
      storef(s + j * R, p);
      sum = addf(sum, p);
    }
    storef(mv + c * R, m_new);
    storef(lv + c * R, fmaf(loadf(lv + c * R), cr, sum));
    storef(corr + c * R, cr);
  };

  const int32_t last = t.positions[t.n_tokens - 1];
  for (int64_t bi = 0; bi <= last / bs; ++bi) {
    const int64_t p0 = bi * bs;
    const int64_t cnt = min64(bs, last - p0 + 1);
    const KvBlockF32 blk = load_kv_block(t, t.block_table[bi], cnt, kb, vb);
    int64_t c = 0;
    while (c < n_ch && last_pos(c) < p0) ++c;  // chunks that see none of the block
    for (; c < n_ch; c += 2) {
      if (c + 1 < n_ch) {
        scores_lanes<2>(qt + c * hd * R, hd, blk.k, cnt, t.scale, st, bs * R);
        softmax(c, st, p0, cnt);
        softmax(c + 1, st + bs * R, p0, cnt);
        pv_lanes<2>(st, bs * R, blk.v, cnt, hd, corr + c * R, ot + c * hd * R);
      } else {
        scores_lanes<1>(qt + c * hd * R, hd, blk.k, cnt, t.scale, st, bs * R);
        softmax(c, st, p0, cnt);
        pv_lanes<1>(st, bs * R, blk.v, cnt, hd, corr + c * R, ot + c * hd * R);
      }
    }
  }
  for (int64_t c = 0; c < n_ch; ++c) {
    const int rows = static_cast<int>(min64(R, n_rows - c * R));
    const vf inv = divf(set1f(1.0f), loadf(lv + c * R));
    alignas(64) float inv_row[R];
    storef(inv_row, inv);
    float* o[R];
    for (int i = 0; i < rows; ++i) {
      o[i] = t.out + head_offset(t, c * R + i);
      for (int64_t d = hd_whole; d < hd; ++d) o[i][d] = ot[(c * hd + d) * R + i] * inv_row[i];
    }
    for (int64_t d0 = 0; d0 < hd_whole; d0 += R) {
      vf v[R];
      for (int j = 0; j < R; ++j) v[j] = mulf(loadf(ot + (c * hd + d0 + j) * R), inv);
      transpose_rr(v);
      for (int i = 0; i < rows; ++i) storef(o[i] + d0, v[i]);
    }
  }
}

void attention(const AttentionTask& t) {
  float* acc = aligned(t.scratch);
  if (t.n_tokens * t.group > kRowsDirect) {
    attention_lanes(t, acc);
  } else {
    switch (t.kv_dtype) {  // the backend admits these three cache types only
      case DType::F32: attention_rows<DType::F32>(t, acc); break;
      case DType::F16: attention_rows<DType::F16>(t, acc); break;
      case DType::Q8_0: attention_rows<DType::Q8_0>(t, acc); break;
      default: break;
    }
  }
}
