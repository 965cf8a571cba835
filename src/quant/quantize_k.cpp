// Reference quantization to Q4_K and Q6_K: ports of ggml's quantize_row_q4_K_ref and
// quantize_row_q6_K_ref (the path llama-quantize takes without an importance matrix), with their
// scale searches make_qkx2_quants and make_qx_quants. The output bytes equal ggml's for every
// finite input (tests/unit/quant checks them against vectors made with ggml).
//
// Cost: Q4_K tries 21 candidate scales per 32-element sub-block (about 21 * 32 * 3 passes of a
// few flops per element); Q6_K tries 19 per 16-element sub-block. Both are O(n) with a constant
// near a hundred operations per element: fine for converting a model once, not for a hot loop.
//
// Bit-exactness depends on doing the same float operations in the same order as ggml: sums are
// accumulated left to right in float, products are grouped as written in ggml's C ((w * x) * l,
// not w * (x * l)), and nothing may be contracted into FMAs. GCC in ISO C++ mode (CMake sets
// -std=c++20, not gnu++20) does not contract; clang does within an expression unless told not
// to, hence the pragma. Reordering any expression here changes the produced blocks.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/row_functions.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace ponder::quant::detail {
namespace {

// ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this quantizes to zeros.
constexpr float kGroupMaxEps = 1e-15f;

// Rounds to the nearest integer, ties to even, as ggml's nearest_int: adding 1.5 * 2^23 leaves the
// rounded value in the low mantissa bits. Valid for |v| <= 2^22 - 1, which every caller satisfies
// because it rounds a value already scaled into the quant range.
int nearest_int(float v) {
  const float shifted = v + 12582912.0f;
  return (std::bit_cast<int32_t>(shifted) & 0x007fffff) - 0x00400000;
}

int clamp_int(int v, int lo, int hi) { return std::max(lo, std::min(hi, v)); }

// Parameters of make_qkx2_quants' search: candidate inverse scales are
// (nmax + rmin + rdelta * is) / (max - min) for is = 0..n_step.
struct Qkx2Search {
  float rmin;
  float rdelta;
  int n_step;
  bool use_mad;  // minimise weighted |error| instead of weighted error^2
};

// Weighted error of x against scale * L + min (min <= 0), summed in element order.
float qkx2_error(int n, const float* x, const float* weights, const uint8_t* L, float scale, float min,
                 bool use_mad) {
  float error = 0;
  for (int i = 0; i < n; ++i) {
    float diff = scale * static_cast<float>(L[i]) + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    error += weights[i] * diff;
  }
  return error;
}

// ggml's make_qkx2_quants: finds scale and min (returned as the positive amount to subtract,
// *the_min) so that x ~ scale * L - the_min with L in [0, nmax], minimising the weighted error.
// Starts from the range's own scale, then tries each candidate scale, solving the weighted least
// squares for (scale, min) given that candidate's rounding, and keeps the best.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, const Qkx2Search& search) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *the_min = -min;
    return 0.f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax));
  }
  float best_error = qkx2_error(n, x, weights, L, scale, min, search.use_mad);
  for (int is = 0; is <= search.n_step; ++is) {
    iscale = (search.rmin + search.rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      const float lf = static_cast<float>(l);
      sum_l += w * lf;
      sum_l2 += w * lf * lf;
      sum_xl += w * lf * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      const float cur_error = qkx2_error(n, x, weights, Laux, this_scale, this_min, search.use_mad);
      if (cur_error < best_error) {
        std::copy(Laux, Laux + n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Rounds x * iscale into [-nmax, nmax - 1] and accumulates ggml's x^2-weighted sums
// sumlx = sum w x l and suml2 = sum w l^2 (rmse_type 1). Writes L + nmax into L if L is non-null.
void qx_round(int n, int nmax, const float* x, float iscale, int8_t* L, float* sumlx, float* suml2) {
  float slx = 0;
  float sl2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    if (L != nullptr) L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    const float lf = static_cast<float>(l);
    slx += w * x[i] * lf;
    sl2 += w * lf * lf;
  }
  *sumlx = slx;
  *suml2 = sl2;
}

// ggml's make_qx_quants with rmse_type 1 and no importance weights: finds a signed scale with
// x ~ scale * (L - nmax), L in [0, 2 nmax - 1], maximising the x^2-weighted fit over 19 candidate
// scales around -nmax / max (max being the signed element of largest magnitude).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.f;
  }
  float sumlx = 0;
  float suml2 = 0;
  qx_round(n, nmax, x, static_cast<float>(-nmax) / max, L, &sumlx, &suml2);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    qx_round(n, nmax, x, iscale, nullptr, &sumlx, &suml2);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      qx_round(n, nmax, x, iscale, L, &sumlx, &suml2);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Packs the 8 sub-block scales and mins (each already in [0, 63]) of a Q4_K / Q5_K block; the
// inverse of unpack_scale_min_k4.
void pack_scale_min_k4(const uint8_t ls[8], const uint8_t lm[8], uint8_t scales[K_SCALE_SIZE]) {
  for (int j = 0; j < 4; ++j) {
    scales[j] = static_cast<uint8_t>(ls[j] | ((ls[j + 4] >> 4) << 6));
    scales[j + 4] = static_cast<uint8_t>(lm[j] | ((lm[j + 4] >> 4) << 6));
    scales[j + 8] = static_cast<uint8_t>((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
  }
}

}  // namespace

void quantize_q4_k(const float* src, void* dst, int64_t n_blocks) {
  constexpr Qkx2Search kSearch{-1.f, 0.1f, 20, false};
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* x = src + b * QK_K;
    uint8_t L[QK_K];
    uint8_t Laux[32];
    float weights[32];
    float mins[QK_K / 32];
    float scales[QK_K / 32];
    float max_scale = 0;  // scales are positive because the min has been subtracted
    float max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
      const float* xs = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
      scales[j] = make_qkx2_quants(32, 15, xs, weights, L + 32 * j, &mins[j], Laux, kSearch);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }

    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[QK_K / 32];
    uint8_t lm[QK_K / 32];
    for (int j = 0; j < QK_K / 32; ++j) {
      // ggml stores nearest_int's result in a uint8_t before clamping; keep that wrap-around.
      ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
      lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    }
    BlockQ4_K blk{};
    pack_scale_min_k4(ls, lm, blk.scales);
    blk.d = encode_scale_f16(max_scale / 63.f, "q4_K", b);
    blk.dmin = encode_scale_f16(max_min / 63.f, "q4_K", b);

    // Requantize against the scales as they will be decoded (f16 times 6-bit integers).
    for (int j = 0; j < QK_K / 32; ++j) {
      const ScaleMin sm = unpack_scale_min_k4(j, blk.scales);
      const float d = f16_to_f32(blk.d) * static_cast<float>(sm.scale);
      if (d == 0) continue;
      const float dm = f16_to_f32(blk.dmin) * static_cast<float>(sm.min);
      for (int l = 0; l < 32; ++l) {
        L[32 * j + l] = static_cast<uint8_t>(clamp_int(nearest_int((x[32 * j + l] + dm) / d), 0, 15));
      }
    }
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        blk.qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
      }
    }
    store_block(dst, b, blk);
  }
}

void quantize_q6_k(const float* src, void* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* x = src + b * QK_K;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    float max_scale = 0;  // the signed scale of largest magnitude
    float max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
      scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      const float abs_scale = std::fabs(scales[ib]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[ib];
      }
    }

    BlockQ6_K blk{};
    if (max_abs_scale < kGroupMaxEps) {
      store_block(dst, b, blk);  // all zeros, including d = +0
      continue;
    }
    const float iscale = -128.f / max_scale;
    blk.d = encode_scale_f16(1 / iscale, "q6_K", b);
    for (int ib = 0; ib < QK_K / 16; ++ib) {
      blk.scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    }

    // Requantize against the decoded sub-block scales.
    for (int j = 0; j < QK_K / 16; ++j) {
      const float d = f16_to_f32(blk.d) * static_cast<float>(blk.scales[j]);
      if (d == 0) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<int8_t>(clamp_int(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const int8_t* Lh = L + 128 * h;
      for (int l = 0; l < 32; ++l) {
        blk.ql[64 * h + l] = static_cast<uint8_t>((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
        blk.ql[64 * h + 32 + l] = static_cast<uint8_t>((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
        blk.qh[32 * h + l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                                  ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
      }
    }
    store_block(dst, b, blk);
  }
}

}  // namespace ponder::quant::detail
