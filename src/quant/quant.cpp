// The public entry points of quant.h: argument checks and dispatch to the per-format row
// functions (row_functions.h). Every check here is O(1) except the finiteness scan of quantize_row's
// input, which reads the row once (cheap next to the quantizers themselves, which read it many
// times), and which keeps NaN / inf from turning into undefined float-to-int conversions.
#include "quant/quant.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "quant/row_functions.h"

namespace ponder::quant {
namespace {

using DequantFn = void (*)(const void*, float*, int64_t);
using QuantFn = void (*)(const float*, void*, int64_t);

// One row per supported type; a null function means "not supported in that direction".
// The count passed to the functions is in blocks (elements for the plain types, whose block is 1).
struct Codec {
  DType type;
  DequantFn dequantize;
  QuantFn quantize;
};

constexpr Codec kCodecs[] = {
    {DType::F32, detail::dequantize_f32, detail::quantize_f32},
    {DType::F16, detail::dequantize_f16, detail::quantize_f16},
    {DType::BF16, detail::dequantize_bf16, detail::quantize_bf16},
    {DType::Q4_0, detail::dequantize_q4_0, detail::quantize_q4_0},
    {DType::Q4_1, detail::dequantize_q4_1, nullptr},
    {DType::Q5_0, detail::dequantize_q5_0, nullptr},
    {DType::Q5_1, detail::dequantize_q5_1, nullptr},
    {DType::Q8_0, detail::dequantize_q8_0, detail::quantize_q8_0},
    {DType::Q2_K, detail::dequantize_q2_k, nullptr},
    {DType::Q3_K, detail::dequantize_q3_k, nullptr},
    {DType::Q4_K, detail::dequantize_q4_k, detail::quantize_q4_k},
    {DType::Q5_K, detail::dequantize_q5_k, nullptr},
    {DType::Q6_K, detail::dequantize_q6_k, detail::quantize_q6_k},
    {DType::Q8_K, detail::dequantize_q8_k, nullptr},
    {DType::IQ4_NL, detail::dequantize_iq4_nl, nullptr},
    {DType::IQ4_XS, detail::dequantize_iq4_xs, nullptr},
    {DType::IQ2_XXS, detail::dequantize_iq2_xxs, nullptr},
    {DType::IQ2_XS, detail::dequantize_iq2_xs, nullptr},
    {DType::IQ2_S, detail::dequantize_iq2_s, nullptr},
    {DType::IQ3_XXS, detail::dequantize_iq3_xxs, nullptr},
    {DType::IQ3_S, detail::dequantize_iq3_s, nullptr},
    {DType::IQ1_S, detail::dequantize_iq1_s, nullptr},
    {DType::IQ1_M, detail::dequantize_iq1_m, nullptr},
};

const Codec* find_codec(DType t) {
  for (const Codec& c : kCodecs) {
    if (c.type == t) return &c;
  }
  return nullptr;
}

// Lists the names of the types supported in one direction, for error messages.
std::string supported_names(bool quantize) {
  std::string names;
  for (const Codec& c : kCodecs) {
    if ((quantize ? c.quantize != nullptr : c.dequantize != nullptr)) {
      if (!names.empty()) names += ", ";
      names += dtype_name(c.type);
    }
  }
  return names;
}

// Checks t, n and the pointers for `what` ("dequantize_row" / "quantize_row") and returns the
// block count. Throws ponder::Error naming the type and the limit broken.
int64_t check_row_args(const char* what, DType t, bool quantize, const void* src, const void* dst,
                       int64_t n) {
  const DTypeInfo* info = dtype_info(static_cast<uint32_t>(t));
  PONDER_CHECK(info != nullptr, "{}: unknown dtype id {}", what, static_cast<uint32_t>(t));
  const Codec* codec = find_codec(t);
  const bool supported =
      codec != nullptr && (quantize ? codec->quantize != nullptr : codec->dequantize != nullptr);
  PONDER_CHECK(supported, "{}: dtype {} is not supported (supported: {})", what, info->name,
               supported_names(quantize));
  PONDER_CHECK(n >= 0, "{}: negative element count {} for {}", what, n, info->name);
  PONDER_CHECK(n % info->block_elems == 0, "{}: {} elements is not a multiple of the {} block size {}",
               what, n, info->name, info->block_elems);
  PONDER_CHECK(n == 0 || (src != nullptr && dst != nullptr), "{}: null buffer for {} {} elements", what,
               n, info->name);
  return n / info->block_elems;
}

}  // namespace

bool can_dequantize(DType t) {
  const Codec* c = find_codec(t);
  return c != nullptr && c->dequantize != nullptr;
}

bool can_quantize(DType t) {
  const Codec* c = find_codec(t);
  return c != nullptr && c->quantize != nullptr;
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const int64_t n_blocks = check_row_args("dequantize_row", t, false, src, dst, n);
  if (n_blocks == 0) return;
  find_codec(t)->dequantize(src, dst, n_blocks);
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  const int64_t n_blocks = check_row_args("quantize_row", t, true, src, dst, n);
  if (n_blocks == 0) return;
  // Plain float types represent NaN and inf; the block formats cannot, and ggml's quantizers
  // would turn them into undefined float-to-int conversions, so reject them with the index.
  if (dtype_info(t).quantized) {
    for (int64_t i = 0; i < n; ++i) {
      PONDER_CHECK(std::isfinite(src[i]), "quantize_row to {}: element {} is not finite ({})",
                   dtype_name(t), i, src[i]);
    }
  }
  find_codec(t)->quantize(src, dst, n_blocks);
}

}  // namespace ponder::quant
