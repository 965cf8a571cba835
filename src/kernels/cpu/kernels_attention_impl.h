// Attention over the paged KV cache, and the cache's q8_0 quantizer: part of kernels_impl.h (included
// there, inside namespace impl, after the primitives; the same rules apply: nothing with inline
// functions of its own may be included).
//
// One task is a tile of consecutive tokens of a sequence × one KV head; its query rows (tokens ×
// the heads sharing the KV head) meet each KV block once: K and V are made f32 in scratch (widened
// from f16, or dequantized from q8_0 with the same float product as quant::dequantize_row, so
// every cache type gives the reference's values), then the scores are computed, and the online
// softmax rescales the running output only when the running maximum moves. With many query rows
// (prefill tiles) K is transposed so that 8 rows × R positions (4 × 2R where a block spans two
// vectors) accumulate in registers; with few (decode) the scalar transposition would cost more
// than the scores, so K stays in rows and each score is a dot product (bench/kernel_bench Attention/decode/<kv type>/512, the 1.5B shape on one
// AVX2 thread: f16 155 → 103 µs, q8_0 161 → 104 µs per layer and token). Converting a block costs
// O(block_size · head_dim) once per task and is shared by all n_tokens · group query rows; for
// q8_0 it (int8 → f32, one multiply per value) costs about what the f16 widening does.

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

// Row j (of head_dim values) of a q8_0 cache row array, as f32 into dst: q · d per element, the
// float product quant::dequantize_row computes.
PONDER_AI void dequantize_q8_0_row(const uint8_t* row, int64_t hd, float* dst) {
  for (int64_t b = 0; b < hd / 32; ++b) {
    const uint8_t* blk = row + 34 * b;
    uint16_t dh;
    __builtin_memcpy(&dh, blk, 2);
    const vf d = set1f(f16_to_f32(dh));
    for (int i = 0; i < 32; i += R) storef(dst + 32 * b + i, mulf(cvtf(sx8to32(blk + 2 + i)), d));
  }
}

// One KV block of the task's head as f32. K: transposed into kt (hd, bsp; padding columns are the
// caller's) when `transposed`, else as rows (cnt, hd) (in kt, or in place for an f32 cache). V as
// rows (cnt, hd) into vb, or in place for an f32 cache.
struct KvBlockF32 {
  const float* k;
  const float* v;
};

PONDER_AI void widen_f16_row(const uint16_t* src, int64_t hd, float* dst) {
  int64_t d = 0;
  for (; d + R <= hd; d += R) storef(dst + d, load_f16(src + d));
  for (; d < hd; ++d) dst[d] = f16_to_f32(src[d]);
}

KvBlockF32 load_kv_block(const AttentionTask& t, int64_t block, int64_t cnt, int64_t bsp, bool transposed, float* kt,
                         float* vb) {
  const int64_t hd = t.head_dim;
  const int64_t row0 = (block * t.n_kv_heads + t.kv_head) * t.block_size;  // first row of the block
  auto transpose_k = [&](const float* k) {
    for (int64_t j = 0; j < cnt; ++j) {
      for (int64_t d = 0; d < hd; ++d) kt[d * bsp + j] = k[j * hd + d];
    }
  };
  if (t.kv_dtype == DType::F32) {
    const float* k = static_cast<const float*>(t.k) + row0 * hd;
    if (transposed) transpose_k(k);
    return {transposed ? kt : k, static_cast<const float*>(t.v) + row0 * hd};
  }
  // f16 and q8_0: made f32 row by row with wide loads; a transposed K goes through vb first (a
  // scalar f16 conversion per element cost 12% of prefill attention), then V takes its place.
  const bool q8 = t.kv_dtype == DType::Q8_0;
  const int64_t row_bytes = q8 ? hd / 32 * 34 : hd * 2;
  auto rows_f32 = [&](const void* cache, float* dst) {
    const auto* src = static_cast<const uint8_t*>(cache) + row0 * row_bytes;
    for (int64_t j = 0; j < cnt; ++j) {
      if (q8) {
        dequantize_q8_0_row(src + j * row_bytes, hd, dst + j * hd);
      } else {
        widen_f16_row(reinterpret_cast<const uint16_t*>(src + j * row_bytes), hd, dst + j * hd);
      }
    }
  };
  rows_f32(t.k, transposed ? vb : kt);
  if (transposed) transpose_k(vb);
  rows_f32(t.v, vb);
  return {kt, vb};
}

// Scores (n_rows, bsp) · scale of the query rows against K transposed (hd, bsp): NR rows × NV·R
// positions at a time in registers (8 accumulators), each K element loaded once per NR rows. For
// many rows (prefill). NV = 1 where a block fits in one vector (AVX-512, 16 positions), so that no
// score is computed for padding.
template <int NV, class QRow>
void scores_transposed(const float* kt, int64_t hd, int64_t bsp, int64_t n_rows, QRow q_row, float scale, float* sc) {
  constexpr int NR = 8 / NV;
  for (int64_t r0 = 0; r0 < n_rows; r0 += NR) {
    const int nr = static_cast<int>(min64(NR, n_rows - r0));
    const float* qr[NR];
    for (int i = 0; i < NR; ++i) qr[i] = q_row(r0 + (i < nr ? i : 0));
    for (int64_t j0 = 0; j0 < bsp; j0 += NV * R) {
      vf s[NR][NV];
      for (int i = 0; i < NR; ++i) {
        for (int v = 0; v < NV; ++v) s[i][v] = zerof();
      }
      for (int64_t d = 0; d < hd; ++d) {
        vf k[NV];
        for (int v = 0; v < NV; ++v) k[v] = loadf(kt + d * bsp + j0 + v * R);
        for (int i = 0; i < NR; ++i) {
          const vf qv = set1f(qr[i][d]);
          for (int v = 0; v < NV; ++v) s[i][v] = fmaf(qv, k[v], s[i][v]);
        }
      }
      for (int i = 0; i < nr; ++i) {
        for (int v = 0; v < NV; ++v) storef(sc + (r0 + i) * bsp + j0 + v * R, mulf(s[i][v], set1f(scale)));
      }
    }
  }
}

// The same scores from K rows (cnt, hd), as dot products: 4 rows × 2 positions at a time, one
// horizontal sum per score. For few rows (decode), where transposing K would cost more than the
// scores themselves. Positions cnt..bsp get score 0 (the softmax masks them).
template <class QRow>
void scores_rows(const float* k, int64_t cnt, int64_t hd, int64_t bsp, int64_t n_rows, QRow q_row, float scale,
                 float* sc) {
  const int64_t hv = hd / R * R;  // the vector part of each row
  for (int64_t r0 = 0; r0 < n_rows; r0 += 4) {
    const int nr = static_cast<int>(min64(4, n_rows - r0));
    const float* qr[4];
    for (int i = 0; i < 4; ++i) qr[i] = q_row(r0 + (i < nr ? i : 0));
    for (int64_t j = 0; j < cnt; j += 2) {
      const float* k0 = k + j * hd;
      const float* k1 = j + 1 < cnt ? k0 + hd : k0;
      vf s[4][2];
      for (int i = 0; i < 4; ++i) s[i][0] = s[i][1] = zerof();
      for (int64_t d = 0; d < hv; d += R) {
        const vf a = loadf(k0 + d), b = loadf(k1 + d);
        for (int i = 0; i < 4; ++i) {
          const vf qv = loadf(qr[i] + d);
          s[i][0] = fmaf(qv, a, s[i][0]);
          s[i][1] = fmaf(qv, b, s[i][1]);
        }
      }
      for (int i = 0; i < nr; ++i) {
        float d0 = hsumf(s[i][0]), d1 = hsumf(s[i][1]);
        for (int64_t d = hv; d < hd; ++d) {
          d0 += qr[i][d] * k0[d];
          d1 += qr[i][d] * k1[d];
        }
        sc[(r0 + i) * bsp + j] = d0 * scale;
        if (j + 1 < cnt) sc[(r0 + i) * bsp + j + 1] = d1 * scale;
      }
    }
    for (int i = 0; i < nr; ++i) {
      for (int64_t j = cnt; j < bsp; ++j) sc[(r0 + i) * bsp + j] = 0.0f;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Attention (see the top of this file).

// Up to this many query rows per task, scores are dot products over K rows (scores_rows).
constexpr int64_t kRowsDirect = 8;

void attention(const AttentionTask& t) {
  const int64_t hd = t.head_dim, bs = t.block_size;
  const int nv = bs > R ? 2 : 1;  // vectors of positions per block in scores_transposed
  const int64_t bsp = (bs + nv * R - 1) / (nv * R) * (nv * R);  // positions per block, padded
  const int64_t n_rows = t.n_tokens * t.group;
  float* acc = t.scratch;                       // (n_rows, hd)
  float* m = acc + n_rows * hd;                 // (n_rows) running max
  float* l = m + n_rows;                        // (n_rows) running sum
  float* kt = l + n_rows + 16;                  // (hd, bsp) K transposed, or (bs, hd) K rows
  kt += (16 - (reinterpret_cast<uintptr_t>(kt) / 4) % 16) % 16;
  float* vb = kt + hd * bsp;                    // (bs, hd) V in f32
  float* sc = vb + bs * hd;                     // (n_rows, bsp) scores, then probabilities
  for (int64_t r = 0; r < n_rows; ++r) {
    m[r] = -__builtin_inff();
    l[r] = 0.0f;
  }
  for (int64_t i = 0; i < n_rows * hd; ++i) acc[i] = 0.0f;
  auto q_row = [&](int64_t r) { return t.q + (r / t.group) * t.row_stride + (t.kv_head * t.group + r % t.group) * hd; };

  const int32_t last = t.positions[t.n_tokens - 1];
  const int64_t n_blocks = last / bs + 1;
  // Few query rows (decode: one token's group of heads) read K as rows; many (prefill) transpose it.
  const bool transposed = n_rows > kRowsDirect;
  for (int64_t bi = 0; bi < n_blocks; ++bi) {
    const int64_t p0 = bi * bs;
    const int64_t cnt = min64(bs, last - p0 + 1);
    const KvBlockF32 blk = load_kv_block(t, t.block_table[bi], cnt, bsp, transposed, kt, vb);
    const float* vrows = blk.v;
    if (transposed) {
      for (int64_t j = cnt; j < bsp; ++j) {
        for (int64_t d = 0; d < hd; ++d) kt[d * bsp + j] = 0.0f;
      }
      if (nv == 2) {
        scores_transposed<2>(kt, hd, bsp, n_rows, q_row, t.scale, sc);
      } else {
        scores_transposed<1>(kt, hd, bsp, n_rows, q_row, t.scale, sc);
      }
    } else {
      scores_rows(blk.k, cnt, hd, bsp, n_rows, q_row, t.scale, sc);
    }
    // Online softmax and the weighted sum of V, row by row.
    for (int64_t r = 0; r < n_rows; ++r) {
      const int32_t pos = t.positions[r / t.group];
      if (pos < p0) continue;
      const int64_t valid = min64(cnt, pos - p0 + 1);
      float* srow = sc + r * bsp;
      for (int64_t j = valid; j < bsp; ++j) srow[j] = -__builtin_inff();  // masked: out of the max
      vf mv = loadf(srow);
      for (int64_t j = R; j < bsp; j += R) mv = maxf(mv, loadf(srow + j));
      const float mb = hmaxf(mv);
      const float m_new = mb > m[r] ? mb : m[r];
      // Once the running maximum settles, most blocks leave it where it was.
      const float corr = m_new == m[r] ? 1.0f : __builtin_expf(m[r] - m_new);
      for (int64_t j = 0; j < bsp; j += R) storef(srow + j, exp_v(subf(loadf(srow + j), set1f(m_new))));
      for (int64_t j = valid; j < bsp; ++j) srow[j] = 0.0f;
      vf psum = zerof();
      for (int64_t j = 0; j < bsp; j += R) psum = addf(psum, loadf(srow + j));
      l[r] = l[r] * corr + hsumf(psum);
      m[r] = m_new;
      float* ar = acc + r * hd;
      // Eight vectors of the row at a time: eight independent FMA chains (four: the prefill
      // kernel_bench 2-4% slower).
      int64_t d = 0;
      auto pv = [&]<int NA>(std::integral_constant<int, NA>) {
        for (; d + NA * R <= hd; d += NA * R) {
          vf a[NA];
          for (int i = 0; i < NA; ++i) a[i] = mulf(loadf(ar + d + i * R), set1f(corr));
          for (int64_t j = 0; j < valid; ++j) {
            const vf p = set1f(srow[j]);
            const float* vr = vrows + j * hd + d;
            for (int i = 0; i < NA; ++i) a[i] = fmaf(p, loadf(vr + i * R), a[i]);
          }
          for (int i = 0; i < NA; ++i) storef(ar + d + i * R, a[i]);
        }
      };
      pv(std::integral_constant<int, 8>{});
      pv(std::integral_constant<int, 1>{});
      for (; d < hd; ++d) {
        float a = ar[d] * corr;
        for (int64_t j = 0; j < valid; ++j) a += srow[j] * vrows[j * hd + d];
        ar[d] = a;
      }
    }
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t tok = r / t.group;
    float* o = t.out + tok * t.row_stride + (t.kv_head * t.group + r % t.group) * hd;
    const float inv = 1.0f / l[r];
    const float* ar = acc + r * hd;
    for (int64_t d = 0; d < hd; ++d) o[d] = ar[d] * inv;
  }
}

