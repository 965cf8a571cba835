// The CPU backend against the scalar reference, op by op, on random data: every weight dtype at odd
// shapes (n_out 1003, n_rows 1..33, several legal n_in), attention over paged caches of several
// block sizes, GQA ratios and KV types, on every instruction set this CPU has (AVX2; AVX-512 with
// and without VNNI are skipped where absent) and with 1 and 2 threads.
//
// Error measure: normalised MSE, Σ(got - want)² / Σ want². Thresholds, and why:
//  - F32 / F16 / BF16 weights: 1e-10. Weights widen exactly to f32; only f32 vs double summation.
//  - Q8_0: 1e-8. Activations are quantized to int16 per block of 32 (relative step 1/32767). With
//    VNNI to int8 per block of 32 (kernels.h's A8, as llama.cpp's q8_0): 1e-4, as Q4_0 (measured
//    2e-5 .. 3e-5).
//  - Q4_0 / Q4_1 / Q5_0 / Q5_1: 1e-4. Activations quantized to int8 per block of 32, as llama.cpp's
//    q8_0 / q8_1: a relative step of 1/127 of the block's largest value (measured 1e-5 .. 5e-5).
//  - IQ4_NL: 1e-4, as Q4_0 (same activations).
//  - Q2_K / Q3_K / Q4_K / Q5_K / Q6_K / IQ4_XS / IQ3_S / IQ3_XXS / IQ2_* / IQ1_*: 2e-4. Activations quantized to int8 per block of 256 (Q8_K): a coarser
//    scale than per 32 (measured 2e-5 .. 8e-5).
//  With fewer than 64 outputs the estimate itself is noisy (one small output dominates), so those
//  cases get 10× the threshold (measured up to 5.4e-4 for Q4_K with 5 outputs).
//  - Element-wise ops, RoPE, norms, attention: 1e-10 (float arithmetic in another order). This holds
//    for q8_0 KV caches too: both backends store the same bytes and dequantize to the same floats.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/fp16.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_features.h"
#include "quant/blocks.h"

namespace ponder {
namespace {

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f, float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double nmse(const float* got, const float* want, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
  }
  return den == 0 ? num : num / den;
}

double nmse(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  return nmse(got.data(), want.data(), std::min(got.size(), want.size()));
}

// Random weights of any dtype: random quant bytes with sane f16 scales (so every bit pattern of
// the quants is exercised), or random floats.
std::vector<uint8_t> random_weights(DType t, int64_t n_out, int64_t n_in, uint32_t seed) {
  const uint64_t row_bytes = dtype_bytes(t, n_in);
  std::vector<uint8_t> w(row_bytes * n_out);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> scale(0.002f, 0.02f);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  if (t == DType::F32 || t == DType::F16 || t == DType::BF16) {
    for (int64_t i = 0; i < n_out * n_in; ++i) {
      const float v = normal(rng);
      if (t == DType::F32) std::memcpy(w.data() + 4 * i, &v, 4);
      const uint16_t h = t == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
      if (t != DType::F32) std::memcpy(w.data() + 2 * i, &h, 2);
    }
    return w;
  }
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  const DTypeInfo& info = dtype_info(t);
  const int64_t n_blocks = static_cast<int64_t>(w.size()) / info.block_bytes;
  auto put = [&](int64_t block, int offset, float v) {
    const uint16_t h = f32_to_f16(v);
    std::memcpy(w.data() + block * info.block_bytes + offset, &h, 2);
  };
  for (int64_t b = 0; b < n_blocks; ++b) {
    switch (t) {
      case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: put(b, 0, scale(rng)); break;
      case DType::IQ4_NL: put(b, 0, scale(rng) / 16); break;
      case DType::IQ4_XS: put(b, 0, scale(rng) / 256); break;
      case DType::IQ3_S: put(b, 0, scale(rng) / 64); break;
      case DType::IQ3_XXS: put(b, 0, scale(rng) / 64); break;
      case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S: put(b, 0, scale(rng) / 32); break;
      case DType::IQ1_S: put(b, 0, scale(rng)); break;
      case DType::IQ1_M: {  // d: the top nibbles of the four scale words
        const uint16_t d = f32_to_f16(scale(rng));
        for (int k = 0; k < 4; ++k) {
          uint8_t* hi = w.data() + b * info.block_bytes + 48 + 2 * k + 1;
          *hi = static_cast<uint8_t>((*hi & 0x0f) | (((d >> (4 * k)) & 0xf) << 4));
        }
        break;
      }
      case DType::Q4_1: case DType::Q5_1: put(b, 0, scale(rng)); put(b, 2, -8 * scale(rng)); break;
      case DType::Q4_K: case DType::Q5_K: put(b, 0, scale(rng) / 8); put(b, 2, scale(rng) / 8); break;
      case DType::Q6_K: put(b, 208, scale(rng) / 32); break;
      case DType::Q2_K: put(b, 80, scale(rng)); put(b, 82, scale(rng)); break;
      case DType::Q3_K: put(b, 108, scale(rng) / 8); break;
      case DType::Q8_K: {
        const float d = scale(rng) / 8;
        std::memcpy(w.data() + b * info.block_bytes, &d, 4);
        break;
      }
      default: break;
    }
  }
  return w;
}

struct Config {
  std::string isa;
  int threads;
};

std::string config_name(const testing::TestParamInfo<Config>& info) {
  std::string n = info.param.isa + "_t" + std::to_string(info.param.threads);
  for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
}

class CpuBackendTest : public testing::TestWithParam<Config> {
 protected:
  void SetUp() override {
    const std::string& isa = GetParam().isa;
    const bool supported = isa == "avx2"            ? cpu::isa_supported(cpu::Isa::Avx2)
                           : isa == "avx512-novnni" ? cpu::isa_supported(cpu::Isa::Avx512)
                                                    : cpu::isa_supported(cpu::Isa::Avx512Vnni);
    if (!supported) GTEST_SKIP() << "this CPU lacks " << isa;
    cpu_ = make_cpu_backend({isa, GetParam().threads});
    ref_ = make_ref_backend();
  }
  std::unique_ptr<Backend> cpu_, ref_;
};

// isa: the backend's instruction set ("avx512-vnni" quantizes Q8_0's activations to int8).
double threshold(DType t, const std::string& isa) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: return 1e-10;
    case DType::Q8_0: return isa == "avx512-vnni" ? 1e-4 : 1e-8;
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::IQ4_NL: return 1e-4;
    default: return 2e-4;
  }
}

void check_matmul(Backend& cpu, Backend& ref, const std::string& isa, DType t, int64_t n_out, int64_t n_in,
                  int64_t n_rows, uint32_t seed) {
  SCOPED_TRACE(fmt::format("{} n_out {} n_in {} n_rows {}", dtype_name(t), n_out, n_in, n_rows));
  const auto bytes = random_weights(t, n_out, n_in, seed);
  const MatrixView host{bytes.data(), t, n_out, n_in, dtype_bytes(t, n_in)};
  const MatrixView packed = cpu.upload_matrix(host);
  // Activations with a mean, as real ones have: with zero-mean ones the sums behind the weights'
  // minimums and offsets nearly vanish, and a wrong offset (Q8_0's 128 with VNNI as 127) passed.
  const auto x = random_vector(static_cast<size_t>(n_rows * n_in), seed + 1, 1.0f, 0.5f);
  std::vector<float> want(static_cast<size_t>(n_rows * n_out)), got(want.size(), -1.0f);
  ref.matmul(host, x.data(), want.data(), n_rows);
  cpu.matmul(packed, x.data(), got.data(), n_rows);
  if (std::getenv("PONDER_TEST_PRINT")) fmt::print("{} {} {} {} nmse {:.3g}\n", dtype_name(t), n_out, n_in, n_rows, nmse(got, want));
  EXPECT_LE(nmse(got, want), threshold(t, isa) * (want.size() < 64 ? 10 : 1));
  // A token's result must not depend on the batch it came in: each row alone gives the same bits.
  if (n_rows > 1) {
    std::vector<float> one(static_cast<size_t>(n_out));
    for (int64_t r = 0; r < n_rows; r += 3) {
      cpu.matmul(packed, x.data() + r * n_in, one.data(), 1);
      EXPECT_EQ(0, std::memcmp(one.data(), got.data() + r * n_out, one.size() * sizeof(float))) << "row " << r;
    }
  }
}

TEST_P(CpuBackendTest, MatmulEveryDtypeOddShapes) {
  const DType types[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                         DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K,
                         DType::IQ4_NL, DType::IQ4_XS, DType::IQ3_S, DType::IQ3_XXS,
                         DType::IQ2_S,  DType::IQ2_XS, DType::IQ2_XXS, DType::IQ1_S,
                         DType::IQ1_M};
  uint32_t seed = 1;
  for (DType t : types) {
    const int64_t block = dtype_info(t).block_elems;
    const int64_t unit = block == 1 ? 1 : block;
    for (int64_t n_rows : {1, 2, 3, 7, 16, 33}) {
      check_matmul(*cpu_, *ref_, GetParam().isa, t, 1003, unit == 1 ? 67 : 3 * unit, n_rows, seed++);
    }
    // Every legal n_in up to a few blocks, and n_out below, at and just above one row group. Nine
    // blocks of 32: A8's block sums run eight blocks at a time and the ninth alone.
    for (int64_t n_in : {unit, 2 * unit, 9 * unit}) {
      for (int64_t n_out : {1, 8, 17}) check_matmul(*cpu_, *ref_, GetParam().isa, t, n_out, n_in, 5, seed++);
    }
  }
}

TEST_P(CpuBackendTest, MatmulFallbackTypesAndUnuploadedMatrices) {
  {
    const DType t = DType::Q8_K;  // no repacked layout (not a weight type in practice, but readable)
    const auto bytes = random_weights(t, 37, 512, 7);
    const MatrixView host{bytes.data(), t, 37, 512, dtype_bytes(t, 512)};
    const MatrixView up = cpu_->upload_matrix(host);
    const auto x = random_vector(3 * 512, 8);
    std::vector<float> want(3 * 37), got(want.size());
    ref_->matmul(host, x.data(), want.data(), 3);
    cpu_->matmul(up, x.data(), got.data(), 3);
    EXPECT_LE(nmse(got, want), 1e-10) << dtype_name(t);
  }
  // A Q4_0 matrix used without upload_matrix is read in its GGUF layout.
  const auto bytes = random_weights(DType::Q4_0, 21, 64, 9);
  const MatrixView host{bytes.data(), DType::Q4_0, 21, 64, dtype_bytes(DType::Q4_0, 64)};
  const auto x = random_vector(2 * 64, 10);
  std::vector<float> want(2 * 21), got(want.size());
  ref_->matmul(host, x.data(), want.data(), 2);
  cpu_->matmul(host, x.data(), got.data(), 2);
  EXPECT_LE(nmse(got, want), 1e-10);
}

// Several matrices against one input (Q, K, V; gate, up) give each matrix's own matmul, bit for
// bit: shared activations (Q4_K, Q6_K and Q2_K all read AK) and sets that cannot share (another
// activation format, a matrix never uploaded, a width that differs), decode and batched rows.
TEST_P(CpuBackendTest, MatmulSharedInputEqualsSeparateMatmuls) {
  const int64_t n_in = 512;
  const std::vector<std::vector<std::pair<DType, int64_t>>> sets = {
      {{DType::Q4_K, 40}, {DType::Q6_K, 17}, {DType::Q2_K, 33}},
      {{DType::Q4_K, 40}, {DType::Q8_0, 24}, {DType::F16, 9}},
      {{DType::Q4_0, 16}, {DType::Q4_0, 1}},
  };
  uint32_t seed = 50;
  for (const auto& set : sets) {
    for (bool upload_all : {true, false}) {
      std::vector<std::vector<uint8_t>> bytes;
      std::vector<MatrixView> ws;
      for (const auto& [t, n_out] : set) {
        bytes.push_back(random_weights(t, n_out, n_in, seed++));
        const MatrixView host{bytes.back().data(), t, n_out, n_in, dtype_bytes(t, n_in)};
        ws.push_back(upload_all || ws.size() != 1 ? cpu_->upload_matrix(host) : host);
      }
      for (int64_t n_rows : {1, 5, 19}) {
        SCOPED_TRACE(fmt::format("{} {} upload_all {} rows {}", dtype_name(set[0].first), dtype_name(set[1].first),
                                 upload_all, n_rows));
        const auto x = random_vector(static_cast<size_t>(n_rows * n_in), seed++);
        std::vector<std::vector<float>> want, got;
        std::vector<float*> outs;
        for (const MatrixView& w : ws) {
          want.emplace_back(static_cast<size_t>(n_rows * w.n_out));
          got.emplace_back(want.back().size(), -1.0f);
          cpu_->matmul(w, x.data(), want.back().data(), n_rows);
        }
        for (auto& g : got) outs.push_back(g.data());
        cpu_->matmul_shared_input(ws, x.data(), outs, n_rows);
        for (size_t i = 0; i < ws.size(); ++i) EXPECT_EQ(got[i], want[i]) << "matrix " << i;
      }
    }
  }
  const auto bytes = random_weights(DType::Q4_K, 8, n_in, 1);
  const MatrixView w = cpu_->upload_matrix({bytes.data(), DType::Q4_K, 8, n_in, dtype_bytes(DType::Q4_K, n_in)});
  const MatrixView ws[] = {w, w};
  std::vector<float> x(n_in), y(8);
  float* const one_out[] = {y.data()};
  EXPECT_THROW(cpu_->matmul_shared_input(ws, x.data(), one_out, 1), Error);
}

// The FFN's down projection with its product fused (computed row by row where the input is
// quantized) gives silu_mul followed by matmul, bit for bit: quantized activations (AK, A8), an
// F32 one (F16 weights), a matrix never uploaded; decode and batched rows.
TEST_P(CpuBackendTest, MatmulSiluMulEqualsSiluMulThenMatmul) {
  const int64_t n_in = 256, n_out = 37;
  uint32_t seed = 70;
  for (DType t : {DType::Q4_K, DType::Q6_K, DType::Q4_0, DType::F16}) {
    const auto bytes = random_weights(t, n_out, n_in, seed++);
    const MatrixView host{bytes.data(), t, n_out, n_in, dtype_bytes(t, n_in)};
    for (const MatrixView& w : {cpu_->upload_matrix(host), host}) {
      for (int64_t n_rows : {1, 6, 19}) {
        SCOPED_TRACE(fmt::format("{} uploaded {} rows {}", dtype_name(t), w.data != host.data, n_rows));
        const auto gate = random_vector(static_cast<size_t>(n_rows * n_in), seed++, 2.0f);
        const auto up = random_vector(gate.size(), seed++, 1.0f, 0.3f);
        std::vector<float> prod(gate.size()), want(static_cast<size_t>(n_rows * n_out)), got(want.size(), -1.0f);
        cpu_->silu_mul(gate.data(), up.data(), prod.data(), static_cast<int64_t>(prod.size()));
        cpu_->matmul(w, prod.data(), want.data(), n_rows);
        auto g = gate;
        cpu_->matmul_silu_mul(w, g.data(), up.data(), got.data(), n_rows);
        EXPECT_EQ(got, want);
        // And the reference backend's default (silu_mul into gate, then matmul) agrees.
        std::vector<float> ref(want.size());
        g = gate;
        ref_->matmul_silu_mul(host, g.data(), up.data(), ref.data(), n_rows);
        EXPECT_LE(nmse(got, ref), threshold(t, GetParam().isa) * 10);
      }
    }
  }
}

TEST_P(CpuBackendTest, ElementwiseOps) {
  for (int64_t n : {1, 7, 64, 1003, 70001}) {
    SCOPED_TRACE(n);
    const auto a = random_vector(static_cast<size_t>(n), 1, 3.0f), b = random_vector(static_cast<size_t>(n), 2);
    std::vector<float> got(a.size()), want(a.size());
    cpu_->silu_mul(a.data(), b.data(), got.data(), n);
    ref_->silu_mul(a.data(), b.data(), want.data(), n);
    EXPECT_LE(nmse(got, want), 1e-10);
    got = a;
    want = a;
    cpu_->add(got.data(), b.data(), n);
    ref_->add(want.data(), b.data(), n);
    EXPECT_EQ(got, want);
  }
  for (int64_t dim : {1, 9, 64, 896, 1003}) {
    for (int64_t rows : {1, 3, 80}) {
      SCOPED_TRACE(fmt::format("dim {} rows {}", dim, rows));
      const auto x = random_vector(static_cast<size_t>(rows * dim), 3, 2.0f);
      const auto w = random_vector(static_cast<size_t>(dim), 4);
      std::vector<float> got(x.size()), want(x.size());
      cpu_->rms_norm(x.data(), w.data(), got.data(), rows, dim, 1e-6f);
      ref_->rms_norm(x.data(), w.data(), want.data(), rows, dim, 1e-6f);
      EXPECT_LE(nmse(got, want), 1e-10);
      got = x;
      want = x;
      cpu_->rms_norm(got.data(), w.data(), got.data(), rows, dim, 1e-5f);  // in place, as for q/k norms
      ref_->rms_norm(want.data(), w.data(), want.data(), rows, dim, 1e-5f);
      EXPECT_LE(nmse(got, want), 1e-10);
      got = x;
      want = x;
      cpu_->add_bias(got.data(), w.data(), rows, dim);
      ref_->add_bias(want.data(), w.data(), rows, dim);
      EXPECT_EQ(got, want);
    }
  }
  const auto x = random_vector(10 * 33, 5);
  const std::vector<int32_t> rows = {9, 0, 3, 3};
  std::vector<float> got(4 * 33), want(4 * 33);
  cpu_->gather_rows(x.data(), rows, 33, got.data());
  ref_->gather_rows(x.data(), rows, 33, want.data());
  EXPECT_EQ(got, want);
}

TEST_P(CpuBackendTest, Rope) {
  for (bool interleaved : {false, true}) {
    for (int64_t head_dim : {8, 64, 128}) {
      SCOPED_TRACE(fmt::format("interleaved {} head_dim {}", interleaved, head_dim));
      RopeTable table;
      for (int64_t i = 0; i < head_dim / 2; ++i) table.inv_freq.push_back(std::pow(10000.0f, -2.0f * i / head_dim));
      table.attention_factor = 1.1f;
      table.interleaved = interleaved;
      const std::vector<int32_t> positions = {0, 1, 2, 17, 4095, 30000, 5};
      const int64_t n_heads = 3;
      const auto x = random_vector(positions.size() * n_heads * head_dim, 6);
      auto got = x, want = x;
      cpu_->rope(got.data(), positions, n_heads, head_dim, table);
      ref_->rope(want.data(), positions, n_heads, head_dim, table);
      EXPECT_LE(nmse(got, want), 1e-10);
    }
  }
  // The backend reuses cos and sin while positions and table stay the same: a changed factor,
  // frequency or position must not meet stale values.
  RopeTable table;
  for (int64_t i = 0; i < 32; ++i) table.inv_freq.push_back(std::pow(10000.0f, -2.0f * i / 64));
  std::vector<int32_t> positions = {3, 4, 5};
  const auto x = random_vector(positions.size() * 2 * 64, 7);
  for (int change = 0; change < 4; ++change) {
    SCOPED_TRACE(fmt::format("change {}", change));
    if (change == 1) table.attention_factor = 1.5f;
    if (change == 2) table.inv_freq[31] *= 2.0f;
    if (change == 3) positions[2] = 9;
    auto got = x, want = x;
    cpu_->rope(got.data(), positions, 2, 64, table);
    ref_->rope(want.data(), positions, 2, 64, table);
    EXPECT_LE(nmse(got, want), 1e-10);
  }
}

struct KvSetup {
  int64_t block_size, n_kv_heads, head_dim, n_blocks;
  DType dtype;
};

// Two sequences with shuffled block tables; the batch holds a prefill chunk of one and a decode
// token of the other, after earlier positions were stored with the same backend.
void check_attention(Backend& cpu, Backend& ref, const KvSetup& s, int64_t n_heads, int64_t len0, int64_t len1,
                     int64_t chunk) {
  SCOPED_TRACE(fmt::format("block {} kv_heads {} heads {} head_dim {} {} lens {} {}", s.block_size, s.n_kv_heads,
                           n_heads, s.head_dim, dtype_name(s.dtype), len0, len1));
  const size_t kv_bytes = static_cast<size_t>(s.n_blocks * s.n_kv_heads * s.block_size) * dtype_bytes(s.dtype, s.head_dim);
  std::vector<std::vector<uint8_t>> mem(4, std::vector<uint8_t>(kv_bytes));  // cpu k, v; ref k, v
  KvLayerView kc{mem[0].data(), mem[1].data(), s.dtype, s.block_size, s.n_kv_heads, s.head_dim, s.n_blocks};
  KvLayerView kr{mem[2].data(), mem[3].data(), s.dtype, s.block_size, s.n_kv_heads, s.head_dim, s.n_blocks};
  std::vector<int32_t> ids(static_cast<size_t>(s.n_blocks));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 7 + 3) % ids.size());
  const int64_t nb0 = (len0 + s.block_size - 1) / s.block_size;
  const std::vector<int32_t> t0(ids.begin(), ids.begin() + nb0);
  const std::vector<int32_t> t1(ids.begin() + nb0, ids.begin() + nb0 + (len1 + s.block_size - 1) / s.block_size);
  const std::vector<std::span<const int32_t>> tables = {t0, t1};
  // Every position of both sequences, stored in one batch.
  std::vector<int32_t> pos, seq;
  for (int64_t p = 0; p < len0; ++p) pos.push_back(static_cast<int32_t>(p)), seq.push_back(0);
  for (int64_t p = 0; p < len1; ++p) pos.push_back(static_cast<int32_t>(p)), seq.push_back(1);
  const AttentionBatch all{pos, seq, tables};
  const size_t kv_floats = pos.size() * static_cast<size_t>(s.n_kv_heads * s.head_dim);
  const auto k = random_vector(kv_floats, 11), v = random_vector(kv_floats, 12);
  cpu.kv_store(kc, all, k.data(), v.data());
  ref.kv_store(kr, all, k.data(), v.data());
  EXPECT_EQ(mem[0], mem[2]);
  EXPECT_EQ(mem[1], mem[3]);
  // Queries: the last `chunk` positions of sequence 0 and the last position of sequence 1.
  std::vector<int32_t> qpos, qseq;
  for (int64_t p = len0 - chunk; p < len0; ++p) qpos.push_back(static_cast<int32_t>(p)), qseq.push_back(0);
  qpos.push_back(static_cast<int32_t>(len1 - 1));
  qseq.push_back(1);
  const AttentionBatch batch{qpos, qseq, tables};
  const auto q = random_vector(qpos.size() * static_cast<size_t>(n_heads * s.head_dim), 13);
  std::vector<float> got(q.size()), want(q.size());
  cpu.attention(kc, batch, q.data(), got.data(), n_heads, 1.0f / std::sqrt(static_cast<float>(s.head_dim)));
  ref.attention(kr, batch, q.data(), want.data(), n_heads, 1.0f / std::sqrt(static_cast<float>(s.head_dim)));
  EXPECT_LE(nmse(got, want), 1e-10);
}

TEST_P(CpuBackendTest, PagedAttention) {
  for (DType dtype : {DType::F32, DType::F16}) {
    for (int64_t block_size : {1, 3, 16, 32}) {
      for (auto [heads, kv_heads] : {std::pair{4, 4}, {6, 2}, {7, 1}, {9, 3}}) {
        for (int64_t head_dim : {16, 64, 72}) {
          const KvSetup s{block_size, kv_heads, head_dim, 200 / block_size + 4, dtype};
          check_attention(*cpu_, *ref_, s, heads, 37, 21, 20);
        }
      }
    }
  }
  const KvSetup s{16, 2, 128, 40, DType::F16};
  check_attention(*cpu_, *ref_, s, 12, 300, 5, 300);  // a long prefill: several tiles per sequence
}

// q8_0 rows: kv_store must write the reference quantizer's bytes exactly (checked inside
// check_attention), and attention reads the same dequantized values as the reference, so the
// threshold is the float-order one, 1e-10.
TEST_P(CpuBackendTest, PagedAttentionQ8_0) {
  for (int64_t block_size : {1, 3, 16, 32}) {
    for (auto [heads, kv_heads] : {std::pair{4, 4}, {6, 2}, {7, 1}, {9, 3}}) {
      for (int64_t head_dim : {32, 96, 128}) {
        const KvSetup s{block_size, kv_heads, head_dim, 200 / block_size + 4, DType::Q8_0};
        check_attention(*cpu_, *ref_, s, heads, 37, 21, 20);
      }
    }
  }
  check_attention(*cpu_, *ref_, {16, 2, 128, 40, DType::Q8_0}, 12, 300, 5, 300);
  check_attention(*cpu_, *ref_, {16, 4, 64, 40, DType::Q8_0}, 28, 161, 1, 1);  // decode, group of 7
}

// The SIMD q8_0 quantizer gives ggml's reference bytes, ties and extremes included.
TEST_P(CpuBackendTest, KvQ8_0QuantizerMatchesReferenceBytes) {
  std::vector<float> x = random_vector(32 * 40, 21, 3.0f);
  for (int i = 0; i < 31; ++i) x[i] = static_cast<float>(i - 16) + 0.5f;  // d = 1: x / d on halves (ties)
  x[31] = 127.0f;
  for (int i = 32; i < 64; ++i) x[i] = 0.0f;                             // an all-zero block
  for (int i = 64; i < 96; ++i) x[i] = (i % 2 ? 1e-30f : -1e-30f);        // scales below f16's range
  x[100] = 60000.0f * 127.0f;                                             // a scale near f16's max
  const int64_t head_dim = static_cast<int64_t>(x.size());
  std::vector<uint8_t> got(dtype_bytes(DType::Q8_0, head_dim)), want(got.size());
  const std::vector<int32_t> table = {0}, pos = {0}, seq = {0};
  const std::vector<std::span<const int32_t>> tables = {table};
  std::vector<uint8_t> vc(got.size()), vr(got.size());
  const KvLayerView kc{got.data(), vc.data(), DType::Q8_0, 1, 1, head_dim, 1};
  const KvLayerView kr{want.data(), vr.data(), DType::Q8_0, 1, 1, head_dim, 1};
  cpu_->kv_store(kc, {pos, seq, tables}, x.data(), x.data());
  ref_->kv_store(kr, {pos, seq, tables}, x.data(), x.data());
  EXPECT_EQ(got, want);
  EXPECT_EQ(vc, vr);
}

TEST_P(CpuBackendTest, BadBatchesAreErrors) {
  std::vector<float> k(64), q(64), out(64);
  std::vector<float> cache(4 * 16);
  KvLayerView kv{cache.data(), cache.data(), DType::F32, 2, 1, 16, 2};
  const std::vector<int32_t> table = {0, 5};
  const std::vector<std::span<const int32_t>> tables = {table};
  const std::vector<int32_t> pos = {3}, seq = {0};
  EXPECT_THROW(cpu_->kv_store(kv, {pos, seq, tables}, k.data(), k.data()), Error);
  EXPECT_THROW(cpu_->attention(kv, {pos, seq, tables}, q.data(), out.data(), 1, 1.0f), Error);
  // q8_0 needs head_dim % 32 == 0; other quantized types are not cache types.
  const std::vector<int32_t> ok_pos = {1};
  KvLayerView q8{cache.data(), cache.data(), DType::Q8_0, 2, 1, 16, 2};
  EXPECT_THROW(cpu_->kv_store(q8, {ok_pos, seq, tables}, k.data(), k.data()), Error);
  EXPECT_THROW(cpu_->attention(q8, {ok_pos, seq, tables}, q.data(), out.data(), 1, 1.0f), Error);
  KvLayerView q4{cache.data(), cache.data(), DType::Q4_0, 2, 1, 32, 2};
  EXPECT_THROW(cpu_->kv_store(q4, {ok_pos, seq, tables}, k.data(), k.data()), Error);
}

std::vector<Config> configs() {
  std::vector<Config> c;
  for (const char* isa : {"avx2", "avx512-novnni", "avx512-vnni"}) {
    for (int threads : {1, 2}) c.push_back({isa, threads});
  }
  return c;
}

INSTANTIATE_TEST_SUITE_P(Isa, CpuBackendTest, testing::ValuesIn(configs()), config_name);

TEST(CpuBackend, IsaSelection) {
  EXPECT_THROW(cpu::parse_isa("sse9"), Error);
  if (!cpu::isa_supported(cpu::Isa::Avx512)) {
    EXPECT_THROW(cpu::parse_isa("avx512"), Error);
  }
  if (cpu::isa_supported(cpu::Isa::Avx2)) {
    setenv("PONDER_CPU_ISA", "avx2", 1);
    EXPECT_EQ(cpu::select_isa(), cpu::Isa::Avx2);
    unsetenv("PONDER_CPU_ISA");
  }
}

}  // namespace
}  // namespace ponder
