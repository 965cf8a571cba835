// The CUDA backend against the reference backend, op by op, on random data with odd sizes: every
// weight dtype on both matmul paths (dp4a / float matvec for n_rows <= 8, dequantize + cuBLAS
// above), both RoPE layouts, RMSNorm / SiLU·mul / add / add_bias / gather_rows, the KV store and
// paged attention with several block sizes, GQA ratios, head sizes and f16 / f32 caches, including
// decode at long context (split context) and mixed prefill + decode batches. Outputs are poisoned
// with NaN first so an unwritten element fails. Compiled in every build; skips without "cuda" in
// backend_names() (no CUDA build, or no device).
//
// Error measure: ‖cuda − ref‖ / ‖ref‖ over the whole output. Thresholds, per path:
//   f32 arithmetic on f32 inputs (elementwise, rope, attention, f32/f16/bf16 matvec)   1e-5
//   quantized matvec (activations as two int8 planes, ~15 bits)                          1e-4
//   tensor-core path, f16 operands (F16 weights, quantized weights dequantized to f16)  3e-3
//   tensor-core path, bf16 operands (BF16 weights)                                      1e-2
//   weight formats without a kernel, converted to f16 at upload                          3e-3
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/backend.h"
#include "kernels/registry.h"
#include "quant/blocks.h"
#include "quant/quant.h"

namespace ponder {
namespace {

bool have_cuda() {
  const auto names = backend_names();
  return std::find(names.begin(), names.end(), "cuda") != names.end();
}

#define SKIP_WITHOUT_CUDA() \
  if (!have_cuda()) GTEST_SKIP() << "no CUDA backend in this build, or no device"

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double norm_err(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    num += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    den += static_cast<double>(want[i]) * want[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// Reports one measured error (the lines are collected into the backend's notes).
void report(const std::string& op, double err, double limit) {
  std::printf("[cuda-vs-ref] %-44s err %.3e (limit %.0e)\n", op.c_str(), err, limit);
  EXPECT_LE(err, limit) << op;
}

// Host data <-> backend buffers.
Buffer to_device(Backend& b, const std::vector<float>& v) { return b.upload(v); }
Buffer poisoned(Backend& b, size_t n) {
  return b.upload(std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()));
}
std::vector<float> to_host(Backend& b, const Buffer& buf, size_t n) {
  std::vector<float> out(n);
  b.copy_to_host(out.data(), buf.data(), n * sizeof(float));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Matmul

// Packs n_out rows of random weights in dtype t (quantize_row where it can; Q5_K and Q4_1 as
// random blocks with sane f16 scales).
std::vector<uint8_t> random_weights(DType t, int64_t n_out, int64_t n_in, uint32_t seed) {
  const uint64_t row_bytes = dtype_bytes(t, n_in);
  std::vector<uint8_t> packed(row_bytes * n_out);
  if (quant::can_quantize(t)) {
    const auto w = random_vector(static_cast<size_t>(n_out * n_in), seed, 0.05f);
    for (int64_t o = 0; o < n_out; ++o) quant::quantize_row(t, w.data() + o * n_in, packed.data() + o * row_bytes, n_in);
    return packed;
  }
  std::mt19937 rng(seed);
  for (auto& byte : packed) byte = static_cast<uint8_t>(rng());
  const int64_t n_blocks = static_cast<int64_t>(packed.size()) / dtype_info(t).block_bytes;
  for (int64_t b = 0; b < n_blocks; ++b) {
    uint8_t* blk = packed.data() + b * dtype_info(t).block_bytes;
    const uint16_t d = f32_to_f16(1e-3f * (1.0f + static_cast<float>(rng() % 100) / 100.0f));
    const uint16_t m = f32_to_f16(-1e-3f * (1.0f + static_cast<float>(rng() % 100) / 100.0f));
    std::memcpy(blk, &d, 2);      // Q5_K d, Q4_1 d
    std::memcpy(blk + 2, &m, 2);  // Q5_K dmin, Q4_1 m
  }
  return packed;
}

struct MatmulCase {
  DType dtype;
  int64_t n_in;
  int64_t n_out = 1003;  // the kernels pick their work split by matrix size: cover both sides
};

class CudaMatmul : public testing::TestWithParam<MatmulCase> {};

TEST_P(CudaMatmul, MatchesReferenceOnBothPaths) {
  SKIP_WITHOUT_CUDA();
  const auto [t, n_in, n_out] = GetParam();
  const int64_t max_rows = 64;
  auto ref = make_ref_backend();
  auto cuda = make_backend("cuda");
  const auto packed = random_weights(t, n_out, n_in, 101);
  const MatrixView host{packed.data(), t, n_out, n_in, dtype_bytes(t, n_in)};
  const auto x = random_vector(static_cast<size_t>(max_rows * n_in), 102);
  std::vector<float> want(static_cast<size_t>(max_rows * n_out));
  ref->matmul(host, x.data(), want.data(), max_rows);

  const MatrixView w = cuda->upload_matrix(host);
  const Buffer xd = to_device(*cuda, x);
  std::vector<float> row0;  // the first row's result alone, for batch invariance
  for (int64_t n_rows : {1, 3, 8, 9, 17, 64}) {
    Buffer y = poisoned(*cuda, static_cast<size_t>(n_rows * n_out));
    cuda->matmul(w, xd.floats(), y.floats(), n_rows);
    const auto got = to_host(*cuda, y, static_cast<size_t>(n_rows * n_out));
    const std::vector<float> expect(want.begin(), want.begin() + n_rows * n_out);
    const bool tensor_cores = n_rows > 8 && t != DType::F32;
    const bool quantized = t != DType::F32 && t != DType::F16 && t != DType::BF16;
    const bool converted = t == DType::Q4_1;  // no kernel: f16 copy made at upload
    double limit = quantized ? 1e-4 : 1e-5;
    if (converted) limit = 3e-3;
    if (tensor_cores) limit = t == DType::BF16 ? 1e-2 : 3e-3;
    report(fmt::format("matmul {} {}x{} rows {}", dtype_name(t), n_out, n_in, n_rows), norm_err(got, expect), limit);
    if (n_rows == 1) row0.assign(got.begin(), got.end());
    if (n_rows > 1 && n_rows <= 8) {
      // A row's result does not depend on the other rows of the batch.
      EXPECT_EQ(0, std::memcmp(row0.data(), got.data(), row0.size() * sizeof(float))) << "rows " << n_rows;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaMatmul,
                         testing::Values(MatmulCase{DType::F32, 800}, MatmulCase{DType::F16, 800},
                                         MatmulCase{DType::BF16, 800}, MatmulCase{DType::Q8_0, 800},
                                         MatmulCase{DType::Q4_0, 800}, MatmulCase{DType::Q4_K, 768},
                                         MatmulCase{DType::Q5_K, 768}, MatmulCase{DType::Q6_K, 768},
                                         MatmulCase{DType::Q4_K, 5120}, MatmulCase{DType::Q6_K, 2816},
                                         MatmulCase{DType::Q4_K, 512, 17001}, MatmulCase{DType::Q6_K, 8448},
                                         MatmulCase{DType::Q4_1, 256}),
                         [](const testing::TestParamInfo<MatmulCase>& info) {
                           return std::string(dtype_name(info.param.dtype)) + "_" + std::to_string(info.param.n_out) +
                                  "x" + std::to_string(info.param.n_in);
                         });

// ---------------------------------------------------------------------------------------------
// Elementwise

TEST(CudaElementwise, RmsNormSiluMulAddBiasGather) {
  SKIP_WITHOUT_CUDA();
  auto ref = make_ref_backend();
  auto cuda = make_backend("cuda");
  for (int64_t dim : {64, 96, 1000, 5120}) {
    for (int64_t n_rows : {1, 3, 17}) {
      const size_t n = static_cast<size_t>(n_rows * dim);
      const auto x = random_vector(n, 1, 3.0f), w = random_vector(static_cast<size_t>(dim), 2);
      const auto y = random_vector(n, 3), bias = random_vector(static_cast<size_t>(dim), 4);
      const std::string shape = fmt::format("{}x{}", n_rows, dim);

      std::vector<float> want(n);
      ref->rms_norm(x.data(), w.data(), want.data(), n_rows, dim, 1e-6f);
      const Buffer xd = to_device(*cuda, x), wd = to_device(*cuda, w);
      Buffer out = poisoned(*cuda, n);
      cuda->rms_norm(xd.floats(), wd.floats(), out.floats(), n_rows, dim, 1e-6f);
      report("rms_norm " + shape, norm_err(to_host(*cuda, out, n), want), 1e-5);
      Buffer inplace = to_device(*cuda, x);
      cuda->rms_norm(inplace.floats(), wd.floats(), inplace.floats(), n_rows, dim, 1e-6f);
      report("rms_norm in place " + shape, norm_err(to_host(*cuda, inplace, n), want), 1e-5);

      ref->silu_mul(x.data(), y.data(), want.data(), static_cast<int64_t>(n));
      const Buffer yd = to_device(*cuda, y);
      out = poisoned(*cuda, n);
      cuda->silu_mul(xd.floats(), yd.floats(), out.floats(), static_cast<int64_t>(n));
      report("silu_mul " + shape, norm_err(to_host(*cuda, out, n), want), 1e-5);

      std::vector<float> acc = x;
      ref->add(acc.data(), y.data(), static_cast<int64_t>(n));
      ref->add_bias(acc.data(), bias.data(), n_rows, dim);
      Buffer accd = to_device(*cuda, x);
      const Buffer biasd = to_device(*cuda, bias);
      cuda->add(accd.floats(), yd.floats(), static_cast<int64_t>(n));
      cuda->add_bias(accd.floats(), biasd.floats(), n_rows, dim);
      report("add + add_bias " + shape, norm_err(to_host(*cuda, accd, n), acc), 1e-6);

      const std::vector<int32_t> rows = {static_cast<int32_t>(n_rows - 1), 0, static_cast<int32_t>(n_rows / 2)};
      std::vector<float> gathered(rows.size() * static_cast<size_t>(dim));
      ref->gather_rows(x.data(), rows, dim, gathered.data());
      Buffer gd = poisoned(*cuda, gathered.size());
      cuda->gather_rows(xd.floats(), rows, dim, gd.floats());
      EXPECT_EQ(to_host(*cuda, gd, gathered.size()), gathered) << shape;
    }
  }
}

TEST(CudaElementwise, RopeBothLayoutsLargePositions) {
  SKIP_WITHOUT_CUDA();
  auto ref = make_ref_backend();
  auto cuda = make_backend("cuda");
  for (int64_t head_dim : {16, 64, 128}) {
    for (bool interleaved : {false, true}) {
      RopeTable table;
      for (int64_t i = 0; i < head_dim / 2; ++i) {
        table.inv_freq.push_back(std::pow(1e6f, -2.0f * static_cast<float>(i) / static_cast<float>(head_dim)));
      }
      table.attention_factor = 1.17f;
      table.interleaved = interleaved;
      const std::vector<int32_t> positions = {0, 1, 7, 511, 4097, 16383, 32767};
      const int64_t n_heads = 5;
      const auto x = random_vector(positions.size() * n_heads * head_dim, 9);
      auto want = x;
      ref->rope(want.data(), positions, n_heads, head_dim, table);
      Buffer xd = to_device(*cuda, x);
      cuda->rope(xd.floats(), positions, n_heads, head_dim, table);
      report(fmt::format("rope hd {} {}", head_dim, interleaved ? "interleaved" : "neox"),
             norm_err(to_host(*cuda, xd, x.size()), want), 1e-5);
    }
  }
}

// The quantized copy that RMSNorm / SiLU·mul emit, and the one matmul caches, must follow the data.
TEST(CudaElementwise, FusedQuantizationAndCachesFollowTheData) {
  SKIP_WITHOUT_CUDA();
  auto ref = make_ref_backend();
  auto cuda = make_backend("cuda");
  const int64_t n_in = 768, n_out = 333;
  for (int64_t n_rows : {1, 3}) {
    const size_t n = static_cast<size_t>(n_rows * n_in);
    const auto packed = random_weights(DType::Q4_K, n_out, n_in, 5);
    const MatrixView host{packed.data(), DType::Q4_K, n_out, n_in, dtype_bytes(DType::Q4_K, n_in)};
    const MatrixView w = cuda->upload_matrix(host);
    const auto x = random_vector(n, 6), g = random_vector(n, 7), nw = random_vector(static_cast<size_t>(n_in), 8);
    std::vector<float> h(n), want(static_cast<size_t>(n_rows * n_out));
    const Buffer xd = to_device(*cuda, x), gd = to_device(*cuda, g), nwd = to_device(*cuda, nw);
    Buffer hd = poisoned(*cuda, n), yd = poisoned(*cuda, want.size());
    // norm -> matmul (emitted quantization)
    ref->rms_norm(x.data(), nw.data(), h.data(), n_rows, n_in, 1e-6f);
    ref->matmul(host, h.data(), want.data(), n_rows);
    cuda->rms_norm(xd.floats(), nwd.floats(), hd.floats(), n_rows, n_in, 1e-6f);
    cuda->matmul(w, hd.floats(), yd.floats(), n_rows);
    report(fmt::format("rms_norm -> matmul q4_K rows {}", n_rows), norm_err(to_host(*cuda, yd, want.size()), want), 1e-4);
    // silu_mul in place -> matmul
    ref->silu_mul(h.data(), g.data(), h.data(), static_cast<int64_t>(n));
    ref->matmul(host, h.data(), want.data(), n_rows);
    cuda->silu_mul(hd.floats(), gd.floats(), hd.floats(), static_cast<int64_t>(n));
    cuda->matmul(w, hd.floats(), yd.floats(), n_rows);
    report(fmt::format("silu_mul -> matmul q4_K rows {}", n_rows), norm_err(to_host(*cuda, yd, want.size()), want),
           1e-4);
    // The input changes under the same pointer: add, then a host copy.
    ref->add(h.data(), g.data(), static_cast<int64_t>(n));
    ref->matmul(host, h.data(), want.data(), n_rows);
    cuda->add(hd.floats(), gd.floats(), static_cast<int64_t>(n));
    cuda->matmul(w, hd.floats(), yd.floats(), n_rows);
    report(fmt::format("add -> matmul q4_K rows {}", n_rows), norm_err(to_host(*cuda, yd, want.size()), want), 1e-4);
    ref->matmul(host, x.data(), want.data(), n_rows);
    cuda->copy_to_backend(hd.data(), x.data(), n * sizeof(float));
    cuda->matmul(w, hd.floats(), yd.floats(), n_rows);
    report(fmt::format("copy -> matmul q4_K rows {}", n_rows), norm_err(to_host(*cuda, yd, want.size()), want), 1e-4);
  }
}

// One transformer layer in Qwen2Model::forward's op order on both backends: the CUDA backend fuses
// matmul + add_bias, add + rms_norm, rope(q) + rope(k) + kv_store and quantizes producer outputs
// for the next matvec; all of that must leave the results unchanged. A 20-token prefill (tensor
// cores, f16 operands) and then decode steps (matvec) through two layers.
TEST(CudaLayer, FusedOpSequenceMatchesReference) {
  SKIP_WITHOUT_CUDA();
  auto ref = make_ref_backend();
  auto cuda = make_backend("cuda");
  const int64_t hidden = 256, heads = 4, kv_heads = 2, hd = 64, ffn = 512, bs = 16, n_blocks = 4;
  const int64_t q_dim = heads * hd, kv_dim = kv_heads * hd;
  struct W {
    std::vector<uint8_t> bytes;
    MatrixView host, dev;
  };
  uint32_t seed = 500;
  const auto weight = [&](int64_t n_out, int64_t n_in, DType t) {
    W w;
    w.bytes = random_weights(t, n_out, n_in, seed++);
    w.host = MatrixView{w.bytes.data(), t, n_out, n_in, dtype_bytes(t, n_in)};
    w.dev = cuda->upload_matrix(w.host);
    return w;
  };
  std::vector<std::vector<W>> layers;
  for (int l = 0; l < 2; ++l) {
    std::vector<W> ws;
    ws.push_back(weight(q_dim, hidden, DType::Q4_K));
    ws.push_back(weight(kv_dim, hidden, DType::Q4_K));
    ws.push_back(weight(kv_dim, hidden, DType::Q6_K));
    ws.push_back(weight(hidden, q_dim, DType::Q4_K));
    ws.push_back(weight(ffn, hidden, DType::Q4_K));
    ws.push_back(weight(ffn, hidden, DType::Q4_K));
    ws.push_back(weight(hidden, ffn, DType::Q6_K));
    layers.push_back(std::move(ws));
  }
  const auto bq = random_vector(q_dim, 1, 0.1f), bk = random_vector(kv_dim, 2, 0.1f), bv = random_vector(kv_dim, 3, 0.1f);
  std::vector<float> norm1(hidden, 1.0f), norm2 = random_vector(hidden, 4, 0.1f);
  for (float& x : norm2) x += 1.0f;
  const Buffer bqd = to_device(*cuda, bq), bkd = to_device(*cuda, bk), bvd = to_device(*cuda, bv);
  const Buffer n1d = to_device(*cuda, norm1), n2d = to_device(*cuda, norm2);
  RopeTable rope;
  for (int64_t i = 0; i < hd / 2; ++i) rope.inv_freq.push_back(std::pow(1e6f, -2.0f * static_cast<float>(i) / hd));
  const size_t cache_elems = static_cast<size_t>(n_blocks * kv_heads * bs * hd);
  std::vector<std::vector<uint16_t>> kr(2, std::vector<uint16_t>(cache_elems)), vr = kr;
  std::vector<Buffer> kc, vc;
  for (int l = 0; l < 2; ++l) {
    kc.emplace_back(cuda.get(), cache_elems * 2);
    vc.emplace_back(cuda.get(), cache_elems * 2);
  }
  const std::vector<int32_t> table = {2, 0, 3};
  const std::span<const int32_t> tables[] = {table};
  int32_t pos0 = 0;
  for (int64_t n : {20, 1, 1}) {
    std::vector<int32_t> positions(static_cast<size_t>(n)), seq(static_cast<size_t>(n), 0);
    std::iota(positions.begin(), positions.end(), pos0);
    pos0 += static_cast<int32_t>(n);
    const AttentionBatch ab{positions, seq, tables};
    const auto x0 = random_vector(static_cast<size_t>(n * hidden), seed++);
    // Both backends run the same code on their own buffers.
    const auto run_layers = [&](Backend& b, bool on_cuda) {
      const auto buf = [&](int64_t width) {
        return on_cuda ? poisoned(b, static_cast<size_t>(n * width)) : Buffer(&b, static_cast<size_t>(n * width) * 4);
      };
      Buffer x = on_cuda ? to_device(b, x0) : b.upload(x0);
      Buffer h = buf(hidden), q = buf(q_dim), k = buf(kv_dim), v = buf(kv_dim), attn = buf(q_dim), gate = buf(ffn),
             up = buf(ffn);
      Buffer bqr = b.upload(bq), bkr = b.upload(bk), bvr = b.upload(bv), n1 = b.upload(norm1), n2 = b.upload(norm2);
      for (int l = 0; l < 2; ++l) {
        const auto& w = layers[static_cast<size_t>(l)];
        const auto m = [&](int i) { return on_cuda ? w[static_cast<size_t>(i)].dev : w[static_cast<size_t>(i)].host; };
        void* kmem = on_cuda ? kc[static_cast<size_t>(l)].data() : static_cast<void*>(kr[static_cast<size_t>(l)].data());
        void* vmem = on_cuda ? vc[static_cast<size_t>(l)].data() : static_cast<void*>(vr[static_cast<size_t>(l)].data());
        const KvLayerView kv{kmem, vmem, DType::F16, bs, kv_heads, hd, n_blocks};
        b.rms_norm(x.floats(), n1.floats(), h.floats(), n, hidden, 1e-6f);
        b.matmul(m(0), h.floats(), q.floats(), n);
        b.matmul(m(1), h.floats(), k.floats(), n);
        b.matmul(m(2), h.floats(), v.floats(), n);
        b.add_bias(q.floats(), bqr.floats(), n, q_dim);
        b.add_bias(k.floats(), bkr.floats(), n, kv_dim);
        b.add_bias(v.floats(), bvr.floats(), n, kv_dim);
        b.rope(q.floats(), positions, heads, hd, rope);
        b.rope(k.floats(), positions, kv_heads, hd, rope);
        b.kv_store(kv, ab, k.floats(), v.floats());
        b.attention(kv, ab, q.floats(), attn.floats(), heads, 0.125f);
        b.matmul(m(3), attn.floats(), h.floats(), n);
        b.add(x.floats(), h.floats(), n * hidden);
        b.rms_norm(x.floats(), n2.floats(), h.floats(), n, hidden, 1e-6f);
        b.matmul(m(4), h.floats(), gate.floats(), n);
        b.matmul(m(5), h.floats(), up.floats(), n);
        b.silu_mul(gate.floats(), up.floats(), gate.floats(), n * ffn);
        b.matmul(m(6), gate.floats(), h.floats(), n);
        b.add(x.floats(), h.floats(), n * hidden);
      }
      return to_host(b, x, static_cast<size_t>(n * hidden));
    };
    const auto want = run_layers(*ref, false);
    const auto got = run_layers(*cuda, true);
    report(fmt::format("two fused layers, {} token(s) at position {}", n, positions[0]), norm_err(got, want),
           n > 8 ? 3e-3 : 1e-3);
  }
}

// Decode steps through run_layers, which the CUDA backend records as a graph on the second step
// of a shape and replays after: projections (q and k share a launch, v another), the KV store and
// attention of two sequences whose positions and block tables change every step (crossing block
// boundaries, with a third sequence joining midway: a new shape), against the reference op by op.
// The limit is the fused layer test's: quantized projections feed the attention.
TEST(CudaGraph, ReplayedDecodeStepsMatchReference) {
  SKIP_WITHOUT_CUDA();
  auto ref = make_ref_backend();
  auto cuda = make_backend("cuda");
  const int64_t hidden = 256, heads = 4, kv_heads = 2, hd = 64, bs = 4, n_blocks = 64;
  const int64_t q_dim = heads * hd, kv_dim = kv_heads * hd;
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<MatrixView> host, dev;
  for (const auto& [n_out, t] : {std::pair{q_dim, DType::Q4_K}, std::pair{kv_dim, DType::Q4_K},
                                 std::pair{kv_dim, DType::Q6_K}}) {
    bytes.push_back(random_weights(t, n_out, hidden, static_cast<uint32_t>(700 + bytes.size())));
    host.push_back(MatrixView{bytes.back().data(), t, n_out, hidden, dtype_bytes(t, hidden)});
    dev.push_back(cuda->upload_matrix(host.back()));
  }
  const auto bias = random_vector(static_cast<size_t>(q_dim), 9, 0.1f);
  const size_t cache_bytes = static_cast<size_t>(n_blocks * kv_heads * bs * hd) * 2;
  std::vector<uint8_t> kref(cache_bytes), vref(cache_bytes);
  Buffer kc(cuda.get(), cache_bytes), vc(cuda.get(), cache_bytes);
  const KvLayerView kv_ref{kref.data(), vref.data(), DType::F16, bs, kv_heads, hd, n_blocks};
  const KvLayerView kv_cuda{kc.data(), vc.data(), DType::F16, bs, kv_heads, hd, n_blocks};
  // Sequence s owns blocks s, s + 3, s + 6, ...
  std::vector<std::vector<int32_t>> tables(3);
  for (int32_t b = 0; b < n_blocks; ++b) tables[static_cast<size_t>(b % 3)].push_back(b);
  const std::vector<std::span<const int32_t>> spans(tables.begin(), tables.end());
  Buffer bias_ref = ref->upload(bias), bias_cuda = cuda->upload(bias);
  struct Bufs {
    Buffer x, q, k, v, out;
  };
  const auto bufs = [](Backend& b, int64_t n) {
    const auto f = [&](int64_t w) { return Buffer(&b, static_cast<size_t>(n * w) * 4); };
    return Bufs{f(hidden), f(q_dim), f(kv_dim), f(kv_dim), f(q_dim)};
  };
  const auto step_ops = [&](Backend& b, const std::vector<MatrixView>& w, const KvLayerView& kv, const AttentionBatch& ab,
                            Bufs& t, const float* bias_d, int64_t n) {
    b.run_layers(ab, kv, [&] {
      b.matmul(w[0], t.x.floats(), t.q.floats(), n);
      b.matmul(w[1], t.x.floats(), t.k.floats(), n);
      b.matmul(w[2], t.x.floats(), t.v.floats(), n);
      b.add_bias(t.q.floats(), bias_d, n, q_dim);
      b.kv_store(kv, ab, t.k.floats(), t.v.floats());
      b.attention(kv, ab, t.q.floats(), t.out.floats(), heads, 0.125f);
    });
  };
  // One set of buffers per batch size, kept across steps (a freed buffer drops the recordings).
  Bufs r2 = bufs(*ref, 2), c2 = bufs(*cuda, 2), r3 = bufs(*ref, 3), c3 = bufs(*cuda, 3);
  std::vector<int32_t> length = {0, 5, 0};
  for (int step = 0; step < 40; ++step) {
    std::vector<int32_t> positions, seq_index;
    for (int32_t s = 0; s < 3; ++s) {
      if (s == 2 && step < 20) continue;  // the third sequence joins at step 20
      positions.push_back(length[static_cast<size_t>(s)]++);
      seq_index.push_back(s);
    }
    const auto n = static_cast<int64_t>(positions.size());
    const AttentionBatch ab{positions, seq_index, spans};
    const auto x = random_vector(static_cast<size_t>(n * hidden), 800 + static_cast<uint32_t>(step));
    Bufs& r = n == 2 ? r2 : r3;
    Bufs& c = n == 2 ? c2 : c3;
    ref->copy_to_backend(r.x.data(), x.data(), x.size() * 4);
    cuda->copy_to_backend(c.x.data(), x.data(), x.size() * 4);
    step_ops(*ref, host, kv_ref, ab, r, bias_ref.floats(), n);
    step_ops(*cuda, dev, kv_cuda, ab, c, bias_cuda.floats(), n);
    const auto want = to_host(*ref, r.out, static_cast<size_t>(n * q_dim));
    report(fmt::format("graph step {} ({} tokens)", step, n), norm_err(to_host(*cuda, c.out, want.size()), want), 1e-3);
  }
}

// ---------------------------------------------------------------------------------------------
// KV cache and attention

struct AttnCase {
  int heads, kv_heads, head_dim, block_size;
  DType kv_dtype;
};

// Sequences of a batch: tokens [done, done + take) of sequence s go in this step.
struct Step {
  int seq, done, take;
};

class CudaAttention : public testing::TestWithParam<AttnCase> {};

TEST_P(CudaAttention, MatchesReferenceOverSteps) {
  SKIP_WITHOUT_CUDA();
  const AttnCase p = GetParam();
  auto ref = make_ref_backend();
  auto cuda = make_backend("cuda");
  // Three sequences: a long prompt stored in one chunk (attention not compared: the scalar
  // reference would take seconds), then prefill chunks mixed with decode tokens, then decode
  // steps at long context (context split across CTAs).
  const std::vector<int> lengths = {1423, 67, 7};
  const std::vector<std::vector<Step>> steps = {
      {{0, 0, 1400}},
      {{0, 1400, 20}, {1, 0, 33}, {2, 0, 5}},
      {{1, 33, 33}, {2, 5, 1}, {0, 1420, 1}},
      {{0, 1421, 1}, {1, 66, 1}, {2, 6, 1}},
      {{0, 1422, 1}},
  };
  const int bs = p.block_size, d = p.head_dim;
  std::vector<std::vector<int32_t>> tables(lengths.size());
  int32_t next_block = 3;  // leave some blocks unused, and hand them out interleaved
  for (int blk = 0; blk * bs < lengths[0]; ++blk) {
    for (size_t s = 0; s < lengths.size(); ++s) {
      if (blk * bs < lengths[s]) tables[s].push_back(next_block++);
    }
  }
  const int64_t n_blocks = next_block + 2;
  const size_t elem = p.kv_dtype == DType::F16 ? 2 : 4;
  const size_t cache_bytes = static_cast<size_t>(n_blocks * bs * p.kv_heads * d) * elem;
  std::vector<uint8_t> kref(cache_bytes), vref(cache_bytes);
  const KvLayerView kv_ref{kref.data(), vref.data(), p.kv_dtype, bs, p.kv_heads, d, n_blocks};
  Buffer kc(cuda.get(), cache_bytes), vc(cuda.get(), cache_bytes);
  const KvLayerView kv_cuda{kc.data(), vc.data(), p.kv_dtype, bs, p.kv_heads, d, n_blocks};
  std::vector<std::span<const int32_t>> spans(tables.begin(), tables.end());
  uint32_t seed = 100;
  for (size_t si = 0; si < steps.size(); ++si) {
    std::vector<int32_t> positions, seq_index;
    for (const Step& st : steps[si]) {
      for (int i = 0; i < st.take; ++i) {
        positions.push_back(st.done + i);
        seq_index.push_back(st.seq);
      }
    }
    const AttentionBatch ab{positions, seq_index, spans};
    const size_t n = positions.size();
    const auto k = random_vector(n * p.kv_heads * d, seed++), v = random_vector(n * p.kv_heads * d, seed++);
    const auto q = random_vector(n * p.heads * d, seed++);
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    ref->kv_store(kv_ref, ab, k.data(), v.data());
    std::vector<float> want(n * p.heads * d);
    if (si > 0) ref->attention(kv_ref, ab, q.data(), want.data(), p.heads, scale);
    const Buffer kd = to_device(*cuda, k), vd = to_device(*cuda, v), qd = to_device(*cuda, q);
    cuda->kv_store(kv_cuda, ab, kd.floats(), vd.floats());
    if (si == 0) continue;
    Buffer out = poisoned(*cuda, want.size());
    cuda->attention(kv_cuda, ab, qd.floats(), out.floats(), p.heads, scale);
    const std::string name = fmt::format("attention h{}/{} d{} bs{} {} step {} ({} tokens)", p.heads, p.kv_heads, d, bs,
                                         dtype_name(p.kv_dtype), si, n);
    report(name, norm_err(to_host(*cuda, out, want.size()), want), 1e-5);
  }
  std::vector<uint8_t> kback(cache_bytes), vback(cache_bytes);
  cuda->copy_to_host(kback.data(), kc.data(), cache_bytes);
  cuda->copy_to_host(vback.data(), vc.data(), cache_bytes);
  EXPECT_TRUE(kback == kref && vback == vref) << "KV cache contents differ from the reference's";
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaAttention,
                         testing::Values(AttnCase{40, 8, 128, 16, DType::F16}, AttnCase{40, 8, 128, 16, DType::F32},
                                         AttnCase{8, 8, 64, 1, DType::F32}, AttnCase{4, 2, 16, 4, DType::F32},
                                         AttnCase{16, 2, 32, 32, DType::F16}, AttnCase{28, 4, 128, 7, DType::F16},
                                         AttnCase{24, 2, 64, 16, DType::F16}),
                         [](const testing::TestParamInfo<AttnCase>& info) {
                           const AttnCase& c = info.param;
                           return fmt::format("h{}_kv{}_d{}_bs{}_{}", c.heads, c.kv_heads, c.head_dim, c.block_size,
                                              dtype_name(c.kv_dtype));
                         });

TEST(CudaAttention, BadBatchesAreErrors) {
  SKIP_WITHOUT_CUDA();
  auto cuda = make_backend("cuda");
  Buffer kc(cuda.get(), 16 * 2 * 16 * 4), vc(cuda.get(), 16 * 2 * 16 * 4), kv(cuda.get(), 16 * 4);
  const KvLayerView view{kc.data(), vc.data(), DType::F32, 16, 1, 16, 2};
  const std::vector<int32_t> table = {0}, positions = {16}, seq = {0};
  const std::span<const int32_t> tables[] = {table};
  EXPECT_THROW(cuda->kv_store(view, AttentionBatch{positions, seq, tables}, kv.floats(), kv.floats()), Error);
  const std::vector<int32_t> bad_table = {7}, ok_positions = {3};
  const std::span<const int32_t> bad_tables[] = {bad_table};
  EXPECT_THROW(cuda->kv_store(view, AttentionBatch{ok_positions, seq, bad_tables}, kv.floats(), kv.floats()), Error);
  const KvLayerView odd{kc.data(), vc.data(), DType::F32, 16, 1, 10, 2};
  EXPECT_THROW(cuda->attention(odd, AttentionBatch{ok_positions, seq, tables}, kv.floats(), kv.floats(), 1, 1.0f),
               Error);
}

}  // namespace
}  // namespace ponder
