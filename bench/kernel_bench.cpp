// Micro-benchmarks of the CPU backend's kernels on one thread (PONDER_THREADS / --threads do not
// apply: each benchmark makes its own backend with the thread count in its name), with rates
// beside the probes of the machine's ceilings (DESIGN.md: Performance method):
//   Matmul/<dtype>/<n_rows>: GB/s of weights streamed (decode, n_rows = 1) and GOP/s (2 per
//     multiply-add) for batches; shapes are the 1.5B model's FFN (8960 × 1536 and 1536 × 8960).
//     512 rows is a whole prefill chunk (ponder bench -p 512), the rate prefill's matmuls run at.
//   Probe/Int8 and Probe/Read: the ceilings `ponder bench` reports, per thread.
//   Attention/{decode,prefill}/<kv type>/<context>: the 1.5B model's attention over a paged cache.
//   Quantize/<format>: the activation quantization batched matmuls run on each input row.
// Times are CPU time of the benchmark thread unless the name says real time.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/fp16.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernels.h"

namespace ponder {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<uint8_t> random_weights(DType t, int64_t n_out, int64_t n_in) {
  std::vector<uint8_t> w(dtype_bytes(t, n_in) * n_out);
  std::mt19937 rng(1);
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  const DTypeInfo& info = dtype_info(t);
  const uint16_t small = f32_to_f16(0.001f);
  for (size_t b = 0; b + info.block_bytes <= w.size(); b += info.block_bytes) {
    switch (t) {
      case DType::Q6_K: std::memcpy(&w[b + 208], &small, 2); break;
      case DType::Q3_K: std::memcpy(&w[b + 108], &small, 2); break;
      case DType::Q2_K: std::memcpy(&w[b + 80], &small, 2); std::memcpy(&w[b + 82], &small, 2); break;
      case DType::F16: case DType::BF16: std::memcpy(&w[b], &small, 2); break;
      case DType::IQ1_M:  // d: the top nibbles of the four scale words
        for (int k = 0; k < 4; ++k) {
          uint8_t& hi = w[b + 49 + 2 * k];
          hi = static_cast<uint8_t>((hi & 0x0f) | (((small >> (4 * k)) & 0xf) << 4));
        }
        break;
      case DType::F32: { const float f = 0.001f; std::memcpy(&w[b], &f, 4); break; }
      default: std::memcpy(&w[b], &small, 2); if (t == DType::Q4_K || t == DType::Q5_K || t == DType::Q4_1) std::memcpy(&w[b + 2], &small, 2);
    }
  }
  return w;
}

void BM_Matmul(benchmark::State& state, DType t, int64_t n_out, int64_t n_in) {
  const int64_t n_rows = state.range(0);
  auto backend = make_cpu_backend({"", 1});
  const auto bytes = random_weights(t, n_out, n_in);
  const MatrixView w = backend->upload_matrix({bytes.data(), t, n_out, n_in, dtype_bytes(t, n_in)});
  const auto x = random_floats(static_cast<size_t>(n_rows * n_in), 2);
  // Output rows 64-byte aligned, as the engine's activation buffers.
  std::vector<float> y_buf(static_cast<size_t>(n_rows * n_out) + 16);
  float* y = y_buf.data() + (16 - reinterpret_cast<uintptr_t>(y_buf.data()) / 4 % 16) % 16;
  for (auto _ : state) {
    backend->matmul(w, x.data(), y, n_rows);
    benchmark::DoNotOptimize(y);
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(bytes.size()) * state.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
  state.counters["GOP/s"] = benchmark::Counter(2.0 * n_out * n_in * n_rows * state.iterations() / 1e9,
                                               benchmark::Counter::kIsRate);
}

void BM_ProbeInt8(benchmark::State& state) {
  const cpu::KernelTable& k = cpu::kernels_for(cpu::select_isa());
  int64_t macs = 0;
  for (auto _ : state) macs += k.probe_int8(100000);
  state.counters["GOP/s"] = benchmark::Counter(2.0 * static_cast<double>(macs) / 1e9, benchmark::Counter::kIsRate);
}

void BM_ProbeRead(benchmark::State& state) {
  const cpu::KernelTable& k = cpu::kernels_for(cpu::select_isa());
  std::vector<uint8_t> buf(size_t{512} << 20, 1);
  for (auto _ : state) benchmark::DoNotOptimize(k.probe_read(buf.data(), static_cast<int64_t>(buf.size())));
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(buf.size()) * state.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}

// Attention of the 1.5B model's shape (12 query heads, 2 KV heads, head_dim 128) over a context of
// state.range(0) positions in a KV cache of type t: decode (the last position's query) or, with
// prefill, every position's query (one causal prefill). GB/s counts the cache bytes read once.
void BM_Attention(benchmark::State& state, DType t, bool prefill) {
  const int64_t ctx = state.range(0), heads = 12, kv_heads = 2, hd = 128, bs = 16;
  auto backend = make_cpu_backend({"", 1});
  const int64_t n_blocks = ctx / bs + 1;
  const uint64_t row_bytes = dtype_bytes(t, hd);
  std::vector<uint8_t> k(static_cast<size_t>(n_blocks * kv_heads * bs) * row_bytes), v = k;
  const KvLayerView kv{k.data(), v.data(), t, bs, kv_heads, hd, n_blocks};
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  for (int32_t i = 0; i < n_blocks; ++i) table[static_cast<size_t>(i)] = i;
  const std::vector<std::span<const int32_t>> tables = {table};
  std::vector<int32_t> all(static_cast<size_t>(ctx)), all_seq(all.size(), 0);
  for (int32_t i = 0; i < ctx; ++i) all[static_cast<size_t>(i)] = i;
  const auto kx = random_floats(static_cast<size_t>(ctx * kv_heads * hd), 6), vx = random_floats(kx.size(), 7);
  backend->kv_store(kv, {all, all_seq, tables}, kx.data(), vx.data());
  const std::vector<int32_t> last = {static_cast<int32_t>(ctx - 1)}, last_seq = {0};
  const AttentionBatch batch = prefill ? AttentionBatch{all, all_seq, tables} : AttentionBatch{last, last_seq, tables};
  const auto q = random_floats(batch.positions.size() * static_cast<size_t>(heads * hd), 3);
  std::vector<float> out(q.size());
  for (auto _ : state) backend->attention(kv, batch, q.data(), out.data(), heads, 0.088f);
  state.counters["GB/s"] = benchmark::Counter(2.0 * static_cast<double>(ctx * kv_heads) * static_cast<double>(row_bytes) *
                                                  static_cast<double>(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}

void BM_RmsNormSilu(benchmark::State& state) {
  auto backend = make_cpu_backend({"", 1});
  const int64_t n = 8960;
  const auto a = random_floats(n, 4), b = random_floats(n, 5);
  std::vector<float> out(n);
  for (auto _ : state) {
    backend->rms_norm(a.data(), b.data(), out.data(), 1, n, 1e-6f);
    backend->silu_mul(a.data(), b.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
}

// Activation quantization of one FFN-down input row (8960 elements), as every batched matmul
// does for each of its rows before the tiles run; GB/s counts the floats read.
void BM_Quantize(benchmark::State& state, cpu::ActFormat f) {
  const cpu::KernelTable& k = cpu::kernels_for(cpu::select_isa());
  const int64_t n = 8960;
  const auto x = random_floats(n, 8);
  std::vector<uint8_t> out(static_cast<size_t>(cpu::act_row_bytes(f, n)));
  for (auto _ : state) {
    k.quantize(f, x.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(4.0 * n * static_cast<double>(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}

void register_all() {
  const struct { const char* name; DType t; } types[] = {
      {"q4_0", DType::Q4_0}, {"q4_1", DType::Q4_1}, {"q5_0", DType::Q5_0}, {"q8_0", DType::Q8_0},
      {"q2_K", DType::Q2_K}, {"q3_K", DType::Q3_K}, {"q4_K", DType::Q4_K}, {"q5_K", DType::Q5_K},
      {"q6_K", DType::Q6_K}, {"iq4_nl", DType::IQ4_NL}, {"iq4_xs", DType::IQ4_XS}, {"iq3_s", DType::IQ3_S},
      {"iq3_xxs", DType::IQ3_XXS}, {"iq2_s", DType::IQ2_S}, {"iq2_xs", DType::IQ2_XS}, {"iq2_xxs", DType::IQ2_XXS},
      {"iq1_s", DType::IQ1_S}, {"iq1_m", DType::IQ1_M},
      {"f16", DType::F16},
      {"bf16", DType::BF16}, {"f32", DType::F32}};
  for (const auto& t : types) {
    benchmark::RegisterBenchmark((std::string("Matmul/up/") + t.name).c_str(), BM_Matmul, t.t, 8960, 1536)
        ->Arg(1)->Arg(4)->Arg(16)->Arg(64)->Arg(512)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("Matmul/down/") + t.name).c_str(), BM_Matmul, t.t, 1536, 8960)
        ->Arg(1)->Arg(16)->Arg(64)->Arg(512)->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("Probe/Int8", BM_ProbeInt8);
  benchmark::RegisterBenchmark("Probe/Read", BM_ProbeRead)->Unit(benchmark::kMillisecond);
  for (const auto& [name, t] : {std::pair{"f16", DType::F16}, {"q8_0", DType::Q8_0}, {"f32", DType::F32}}) {
    benchmark::RegisterBenchmark((std::string("Attention/decode/") + name).c_str(), BM_Attention, t, false)
        ->Arg(512)->Arg(2048);
    benchmark::RegisterBenchmark((std::string("Attention/prefill/") + name).c_str(), BM_Attention, t, true)
        ->Arg(512)->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("Elementwise/rms_norm+silu_mul", BM_RmsNormSilu);
  benchmark::RegisterBenchmark("Quantize/ak", BM_Quantize, cpu::ActFormat::AK);
  benchmark::RegisterBenchmark("Quantize/a8", BM_Quantize, cpu::ActFormat::A8);
}

}  // namespace
}  // namespace ponder

int main(int argc, char** argv) {
  ponder::register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
