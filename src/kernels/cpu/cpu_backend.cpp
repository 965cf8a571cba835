#include "kernels/cpu/cpu_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/repack.h"
#include "quant/blocks.h"
#include "quant/quant.h"

namespace ponder {
namespace {

static_assert(std::equal(std::begin(cpu::kIq4Grid), std::end(cpu::kIq4Grid), std::begin(quant::kIq4nlValues)),
              "the CPU kernels' IQ4 grid differs from quant/blocks.h's");

using cpu::ActFormat;
using cpu::KernelTable;

ActFormat act_format(DType t, const KernelTable& k) {
  switch (t) {
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::IQ4_NL:
      return ActFormat::A8;
    case DType::Q8_0: return k.q8_0_act;
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: case DType::IQ4_XS:
    case DType::IQ3_S: case DType::IQ3_XXS: case DType::IQ2_S: case DType::IQ2_XS: case DType::IQ2_XXS:
    case DType::IQ1_S: case DType::IQ1_M:
      return ActFormat::AK;
    default: return ActFormat::F32;
  }
}

// True if [p, p + bytes) lies in a read-only mapping of a file, where dropping pages loses nothing.
bool in_readonly_file_mapping(const void* p, size_t bytes) {
  std::ifstream maps("/proc/self/maps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev;
    unsigned long inode = 0;
    in >> range >> perms >> offset >> dev >> inode;
    const size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    const uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (addr >= lo && addr < hi) return inode != 0 && perms.size() >= 2 && perms[1] == '-' && addr + bytes <= hi;
  }
  return false;
}

void release_source_pages(const void* p, size_t bytes) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto lo = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const auto hi = (reinterpret_cast<uintptr_t>(p) + bytes) / page * page;
  if (hi <= lo || !in_readonly_file_mapping(p, bytes)) return;
  madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

// Decode splits a matmul into this many equal runs of weight groups per thread: every run starts
// its stream cold, so few runs (1.5B Q4_K_M decode matmuls 3-5% faster at 2 than at 8; at 1, static
// halves, as fast as 2 but with no slack for a late thread). Batched rows split into shrinking
// runs, the smallest 1/kMinRunDivisor of the groups (CpuBackend::matmul_shared_input).
constexpr int64_t kDecodeRunsPerThread = 2;
constexpr int64_t kMinRunDivisor = 64;

// Threads pay off above this many elements of element-wise work.
constexpr int64_t kParallelElements = 1 << 16;

class CpuBackend final : public Backend {
 public:
  CpuBackend(const KernelTable& k, int n_threads) : k_(k), pool_(n_threads), thread_scratch_(pool_.n_threads()) {
    name_ = "cpu";
  }
  ~CpuBackend() override {
    for (auto& [p, dtype] : packed_) {
      if (big_allocs_.count(const_cast<void*>(p)) == 0) std::free(const_cast<void*>(p));
    }
    for (auto& [p, bytes] : big_allocs_) munmap(p, bytes);
  }

  std::string_view name() const override { return name_; }

  void* alloc(size_t bytes) override {
    // Large buffers come straight from mmap: zero pages cost nothing until touched.
    if (bytes >= (1u << 20)) {
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      PONDER_CHECK(p != MAP_FAILED, "out of memory allocating {} bytes", bytes);
      std::lock_guard<std::mutex> lock(alloc_mutex_);
      big_allocs_[p] = bytes;
      return p;
    }
    void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
    PONDER_CHECK(p != nullptr, "out of memory allocating {} bytes", bytes);
    std::memset(p, 0, bytes);
    return p;
  }
  void dealloc(void* p) override {
    {
      std::lock_guard<std::mutex> lock(alloc_mutex_);
      if (auto it = big_allocs_.find(p); it != big_allocs_.end()) {
        munmap(p, it->second);
        big_allocs_.erase(it);
        return;
      }
    }
    std::free(p);
  }
  void copy_to_backend(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }

  MatrixView upload_matrix(const MatrixView& host) override {
    if (!cpu::has_packed_layout(host.dtype) || host.n_out <= 0 || host.n_in <= 0) return host;
    const int R = k_.rows_per_group;
    const uint64_t bytes = cpu::packed_bytes(host.dtype, host.n_out, host.n_in, R);
    auto* dst = static_cast<uint8_t*>(alloc(bytes));
#ifdef MADV_HUGEPAGE
    madvise(dst, bytes, MADV_HUGEPAGE);
#endif
    const int64_t n_groups = (host.n_out + R - 1) / R;
    const auto* src = static_cast<const uint8_t*>(host.data);
    pool_.parallel_for(n_groups, [&](int64_t b, int64_t e, int) {
      cpu::repack_groups(host.dtype, src, host.row_bytes, host.n_out, host.n_in, R, dst, b, e);
    });
    release_source_pages(host.data, static_cast<size_t>(host.row_bytes * host.n_out));
    MatrixView packed = host;
    packed.data = dst;
    std::lock_guard<std::mutex> lock(alloc_mutex_);
    packed_[dst] = host.dtype;
    return packed;
  }

  void matmul(const MatrixView& w, const float* x, float* y, int64_t n_rows) override {
    matmul_shared_input({&w, 1}, x, {&y, 1}, n_rows);
  }

  void matmul_shared_input(std::span<const MatrixView> ws, const float* x, std::span<float* const> ys,
                           int64_t n_rows) override {
    PONDER_CHECK(ws.size() == ys.size(), "matmul: {} matrices but {} outputs", ws.size(), ys.size());
    if (n_rows <= 0 || ws.empty()) return;
    // Shared work needs every matrix repacked, with one input width and activation format.
    bool shared = true;
    for (const MatrixView& w : ws) {
      shared = shared && is_packed(w) && w.n_in == ws[0].n_in && act_format(w.dtype, k_) == act_format(ws[0].dtype, k_);
    }
    if (!shared) {
      for (size_t i = 0; i < ws.size(); ++i) {
        if (ws[i].n_out <= 0) continue;
        if (is_packed(ws[i])) {
          matmul_shared_input(ws.subspan(i, 1), x, ys.subspan(i, 1), n_rows);
        } else {
          matmul_fallback(ws[i], x, ys[i], n_rows);
        }
      }
      return;
    }
    run_packed(ws, x, nullptr, ys, n_rows);
  }

  void matmul_silu_mul(const MatrixView& w, float* gate, const float* up, float* y, int64_t n_rows) override {
    if (n_rows <= 0 || !is_packed(w) || act_format(w.dtype, k_) == ActFormat::F32) {
      Backend::matmul_silu_mul(w, gate, up, y, n_rows);
      return;
    }
    run_packed({&w, 1}, gate, up, {&y, 1}, n_rows);
  }

  // ys[i] = x · ws[i]ᵀ for repacked matrices of one input width and activation format; with up,
  // the input is silu(x) * up, computed row by row where the rows are quantized (so never for
  // an F32 activation format).
  void run_packed(std::span<const MatrixView> ws, const float* x, const float* up, std::span<float* const> ys,
                  int64_t n_rows) {
    const ActFormat f = act_format(ws[0].dtype, k_);
    const int64_t n_in = ws[0].n_in;
    const uint8_t* act = reinterpret_cast<const uint8_t*>(x);
    int64_t act_stride = n_in * 4;
    if (f != ActFormat::F32) {
      act_stride = cpu::act_row_bytes(f, n_in);
      grow(act_, static_cast<size_t>(act_stride * n_rows));
      uint8_t* q = act_.data();
      if (up != nullptr) {
        for (auto& s : thread_scratch_) grow(s, static_cast<size_t>(n_in));
      }
      auto quantize_rows = [&](int64_t b, int64_t e, int thread) {
        for (int64_t r = b; r < e; ++r) {
          const float* row = x + r * n_in;
          if (up != nullptr) {
            float* prod = thread_scratch_[static_cast<size_t>(thread)].data();
            k_.silu_mul(row, up + r * n_in, prod, n_in);
            row = prod;
          }
          k_.quantize(f, row, n_in, q + r * act_stride);
        }
      };
      if (n_rows >= 4) {
        pool_.parallel_for(n_rows, quantize_rows);
      } else {
        quantize_rows(0, n_rows, 0);
      }
      act = q;
    }
    // The matrices' weight groups, one after another, are one range of groups to split.
    args_.clear();
    int64_t n_groups = 0;
    for (size_t i = 0; i < ws.size(); ++i) {
      const MatrixView& w = ws[i];
      cpu::MatmulArgs a;
      a.dtype = w.dtype;
      a.packed = static_cast<const uint8_t*>(w.data);
      a.group_bytes = static_cast<int64_t>(cpu::packed_group_bytes(w.dtype, w.n_in, k_.rows_per_group));
      a.n_in = n_in;
      a.n_out = w.n_out;
      a.n_rows = n_rows;
      a.y = ys[i];
      a.act = act;
      a.act_stride = act_stride;
      const int64_t first = n_groups;
      n_groups += (w.n_out + k_.rows_per_group - 1) / k_.rows_per_group;
      args_.push_back({a, first, n_groups});
    }
    // Runs of groups handed out to whichever thread is free: on a shared machine a thread that
    // loses its core for a while no longer holds the other at the end of every matmul. Decode
    // streams the weights from memory in kDecodeRunsPerThread equal runs. Batched rows re-read
    // their activation slice (kept in L2) once per run, so each run takes 1/(2 · threads) of the
    // groups still left, down to 1/kMinRunDivisor of them all: large runs first, shrinking
    // towards the end so that the threads finish close together (equal runs left one thread
    // waiting half a run on average).
    run_bounds_.clear();
    if (n_rows == 1) {
      const int64_t n_runs = std::min<int64_t>(n_groups, kDecodeRunsPerThread * pool_.n_threads());
      for (int64_t i = 0; i < n_runs; ++i) run_bounds_.push_back(i * n_groups / n_runs);
    } else {
      const int64_t parts = 2 * pool_.n_threads();
      const int64_t min_run = std::max<int64_t>(1, n_groups / kMinRunDivisor);
      for (int64_t g = 0; g < n_groups; g = std::min(n_groups, g + std::max(min_run, (n_groups - g) / parts))) {
        run_bounds_.push_back(g);
      }
    }
    run_bounds_.push_back(n_groups);
    pool_.parallel_for_dynamic(static_cast<int64_t>(run_bounds_.size()) - 1, [&](int64_t i, int) {
      const int64_t b = run_bounds_[static_cast<size_t>(i)], e = run_bounds_[static_cast<size_t>(i) + 1];
      for (const MatrixRun& m : args_) {
        if (b >= m.end || e <= m.first) continue;
        k_.matmul(m.args, std::max(b, m.first) - m.first, std::min(e, m.end) - m.first);
      }
    });
  }

  void rms_norm(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps) override {
    rows_parallel(n_rows, dim, [&](int64_t r) { k_.rms_norm(x + r * dim, weight, y + r * dim, dim, eps); });
  }

  void rope(float* x, std::span<const int32_t> positions, int64_t n_heads, int64_t head_dim,
            const RopeTable& table) override {
    const int64_t half = head_dim / 2;
    const auto n = static_cast<int64_t>(positions.size());
    PONDER_CHECK(static_cast<int64_t>(table.inv_freq.size()) >= half, "RoPE table has {} frequencies, need {}",
                 table.inv_freq.size(), half);
    // Every layer's q and k meet the same positions and table: cos and sin are computed once per
    // forward (1.5B prefill of 512 tokens: 56 calls, about 0.7% of its time in sin and cos).
    const bool cached = rope_head_dim_ == head_dim && rope_factor_ == table.attention_factor &&
                        std::equal(positions.begin(), positions.end(), rope_positions_.begin(), rope_positions_.end()) &&
                        std::equal(table.inv_freq.begin(), table.inv_freq.begin() + half, rope_freq_.begin(),
                                   rope_freq_.end());
    grow(rope_cs_, static_cast<size_t>(n * head_dim));
    float* cs_all = rope_cs_.data();
    if (!cached) {
      rows_parallel(n, head_dim, [&](int64_t t) {
        float* cs = cs_all + t * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const double angle =
              static_cast<double>(positions[static_cast<size_t>(t)]) * table.inv_freq[static_cast<size_t>(i)];
          cs[i] = static_cast<float>(std::cos(angle)) * table.attention_factor;
          cs[half + i] = static_cast<float>(std::sin(angle)) * table.attention_factor;
        }
      });
      rope_positions_.assign(positions.begin(), positions.end());
      rope_freq_.assign(table.inv_freq.begin(), table.inv_freq.begin() + half);
      rope_head_dim_ = head_dim;
      rope_factor_ = table.attention_factor;
    }
    rows_parallel(n, n_heads * head_dim, [&](int64_t t) {
      k_.rope(x + t * n_heads * head_dim, n_heads, head_dim, cs_all + t * head_dim, table.interleaved);
    });
  }

  void silu_mul(const float* gate, const float* up, float* out, int64_t n) override {
    chunks_parallel(n, [&](int64_t b, int64_t e) { k_.silu_mul(gate + b, up + b, out + b, e - b); });
  }

  void add(float* x, const float* y, int64_t n) override {
    chunks_parallel(n, [&](int64_t b, int64_t e) { k_.add(x + b, y + b, e - b); });
  }

  void add_bias(float* x, const float* bias, int64_t n_rows, int64_t dim) override {
    rows_parallel(n_rows, dim, [&](int64_t r) { k_.add(x + r * dim, bias, dim); });
  }

  void gather_rows(const float* x, std::span<const int32_t> rows, int64_t dim, float* out) override {
    for (size_t i = 0; i < rows.size(); ++i) {
      std::memcpy(out + static_cast<int64_t>(i) * dim, x + static_cast<int64_t>(rows[i]) * dim, dim * sizeof(float));
    }
  }

  void kv_store(const KvLayerView& kv, const AttentionBatch& batch, const float* k, const float* v) override {
    check_kv_dtype(kv.dtype, kv.head_dim);
    check_batch(kv, batch);
    const int64_t row = kv.n_kv_heads * kv.head_dim;
    const uint64_t row_bytes = kv.row_bytes();
    auto* kb = static_cast<uint8_t*>(kv.k);
    auto* vb = static_cast<uint8_t*>(kv.v);
    for (size_t t = 0; t < batch.positions.size(); ++t) {
      const int32_t pos = batch.positions[t];
      const auto table = batch.block_tables[static_cast<size_t>(batch.seq_index[t])];
      const int64_t block = table[static_cast<size_t>(pos / kv.block_size)];
      const int64_t slot = pos % kv.block_size;
      for (int64_t h = 0; h < kv.n_kv_heads; ++h) {
        const uint64_t dst = static_cast<uint64_t>((block * kv.n_kv_heads + h) * kv.block_size + slot) * row_bytes;
        const int64_t src = static_cast<int64_t>(t) * row + h * kv.head_dim;
        if (kv.dtype == DType::F16) {
          k_.to_f16(k + src, reinterpret_cast<uint16_t*>(kb + dst), kv.head_dim);
          k_.to_f16(v + src, reinterpret_cast<uint16_t*>(vb + dst), kv.head_dim);
        } else if (kv.dtype == DType::Q8_0) {
          k_.to_q8_0(k + src, kb + dst, kv.head_dim);
          k_.to_q8_0(v + src, vb + dst, kv.head_dim);
        } else {
          std::memcpy(kb + dst, k + src, row_bytes);
          std::memcpy(vb + dst, v + src, row_bytes);
        }
      }
    }
  }

  void attention(const KvLayerView& kv, const AttentionBatch& batch, const float* q, float* out, int64_t n_heads,
                 float scale) override {
    check_kv_dtype(kv.dtype, kv.head_dim);
    check_batch(kv, batch);
    PONDER_CHECK(kv.n_kv_heads > 0 && n_heads % kv.n_kv_heads == 0, "{} query heads do not divide into {} KV heads",
                 n_heads, kv.n_kv_heads);
    const auto n_tokens = static_cast<int64_t>(batch.positions.size());
    const int64_t group = n_heads / kv.n_kv_heads;
    // Tiles: runs of consecutive tokens of one sequence at consecutive positions.
    constexpr int64_t kTileTokens = 16;
    tiles_.clear();
    for (int64_t t = 0; t < n_tokens;) {
      int64_t e = t + 1;
      while (e < n_tokens && e - t < kTileTokens && batch.seq_index[e] == batch.seq_index[t] &&
             batch.positions[e] == batch.positions[e - 1] + 1) {
        ++e;
      }
      tiles_.push_back({t, e - t});
      t = e;
    }
    const int64_t scratch_floats = cpu::attention_scratch_floats(kTileTokens * group, kv.head_dim, kv.block_size);
    for (auto& s : thread_scratch_) grow(s, static_cast<size_t>(scratch_floats));
    const auto n_tiles = static_cast<int64_t>(tiles_.size());
    const int64_t n_items = n_tiles * kv.n_kv_heads;
    pool_.parallel_for_dynamic(n_items, [&](int64_t item, int thread) {
      // Last tiles first: in a causal prefill they cost the most, so the threads finish together.
      const int64_t i = n_items - 1 - item;
      const Tile& tile = tiles_[static_cast<size_t>(i / kv.n_kv_heads)];
      cpu::AttentionTask task;
      task.k = kv.k;
      task.v = kv.v;
      task.kv_dtype = kv.dtype;
      task.block_size = kv.block_size;
      task.n_kv_heads = kv.n_kv_heads;
      task.head_dim = kv.head_dim;
      task.block_table = batch.block_tables[static_cast<size_t>(batch.seq_index[tile.first])].data();
      task.positions = batch.positions.data() + tile.first;
      task.n_tokens = tile.count;
      task.kv_head = i % kv.n_kv_heads;
      task.group = group;
      task.q = q + tile.first * n_heads * kv.head_dim;
      task.out = out + tile.first * n_heads * kv.head_dim;
      task.row_stride = n_heads * kv.head_dim;
      task.scale = scale;
      task.scratch = thread_scratch_[static_cast<size_t>(thread)].data();
      k_.attention(task);
    });
  }

 private:
  struct Tile {
    int64_t first;
    int64_t count;
  };

  // Grows a scratch vector (only ever up, so steady-state steps allocate nothing).
  template <class V>
  static void grow(V& v, size_t n) {
    if (v.size() < n) v.resize(n);
  }

  template <class Fn>
  void rows_parallel(int64_t n_rows, int64_t row_elems, Fn&& fn) {
    if (n_rows * row_elems < kParallelElements || n_rows < 2) {
      for (int64_t r = 0; r < n_rows; ++r) fn(r);
      return;
    }
    pool_.parallel_for(n_rows, [&](int64_t b, int64_t e, int) {
      for (int64_t r = b; r < e; ++r) fn(r);
    });
  }

  template <class Fn>
  void chunks_parallel(int64_t n, Fn&& fn) {
    if (n < kParallelElements) {
      fn(0, n);
      return;
    }
    const int64_t n_chunks = (n + 4095) / 4096;
    pool_.parallel_for(n_chunks, [&](int64_t b, int64_t e, int) { fn(b * 4096, std::min(n, e * 4096)); });
  }

  // Every token's position must be covered by its sequence's block table, with valid block ids.
  static void check_batch(const KvLayerView& kv, const AttentionBatch& batch) {
    PONDER_CHECK(batch.seq_index.size() == batch.positions.size(), "batch has {} positions but {} sequence indices",
                 batch.positions.size(), batch.seq_index.size());
    for (size_t t = 0; t < batch.positions.size(); ++t) {
      const int32_t s = batch.seq_index[t];
      PONDER_CHECK(s >= 0 && static_cast<size_t>(s) < batch.block_tables.size(), "token {} names sequence {} of {}", t,
                   s, batch.block_tables.size());
      const auto table = batch.block_tables[static_cast<size_t>(s)];
      const int32_t pos = batch.positions[t];
      PONDER_CHECK(pos >= 0 && pos / kv.block_size < static_cast<int64_t>(table.size()),
                   "position {} is outside the block table ({} blocks)", pos, table.size());
      for (int64_t i = 0; i <= pos / kv.block_size; ++i) {
        const int32_t block = table[static_cast<size_t>(i)];
        PONDER_CHECK(block >= 0 && block < kv.n_blocks, "block id {} out of range ({} blocks)", block, kv.n_blocks);
      }
    }
  }

  bool is_packed(const MatrixView& w) {
    std::lock_guard<std::mutex> lock(alloc_mutex_);
    auto it = packed_.find(w.data);
    return it != packed_.end() && it->second == w.dtype && w.n_out > 0;
  }

  // Types without a repacked layout (or matrices never uploaded): dequantize each row once, then
  // dot it with every activation row.
  void matmul_fallback(const MatrixView& w, const float* x, float* y, int64_t n_rows) {
    PONDER_CHECK(quant::can_dequantize(w.dtype), "matmul: cannot read weights of type {}", dtype_name(w.dtype));
    for (auto& s : thread_scratch_) grow(s, static_cast<size_t>(w.n_in));
    const auto* base = static_cast<const uint8_t*>(w.data);
    pool_.parallel_for(w.n_out, [&](int64_t b, int64_t e, int thread) {
      float* row = thread_scratch_[static_cast<size_t>(thread)].data();
      for (int64_t o = b; o < e; ++o) {
        quant::dequantize_row(w.dtype, base + o * w.row_bytes, row, w.n_in);
        for (int64_t r = 0; r < n_rows; ++r) y[r * w.n_out + o] = k_.dot(row, x + r * w.n_in, w.n_in);
      }
    });
  }

  const KernelTable& k_;
  std::string name_;
  ThreadPool pool_;
  std::mutex alloc_mutex_;
  std::unordered_map<void*, size_t> big_allocs_;
  std::unordered_map<const void*, DType> packed_;
  std::vector<uint8_t> act_;                       // quantized activations (n_rows, act_row_bytes)
  std::vector<float> rope_cs_;                     // (n_tokens, head_dim) cos then sin per token
  std::vector<int32_t> rope_positions_;            // what rope_cs_ holds: positions, frequencies,
  std::vector<float> rope_freq_;                   //   head_dim and attention factor
  int64_t rope_head_dim_ = 0;
  float rope_factor_ = 0.0f;
  std::vector<Tile> tiles_;                        // attention tiles of the current batch
  std::vector<int64_t> run_bounds_;                // matmul runs of weight groups (first, ..., n_groups)
  // One matrix of a matmul: its kernel arguments and its groups' range [first, end) among all.
  struct MatrixRun {
    cpu::MatmulArgs args;
    int64_t first, end;
  };
  std::vector<MatrixRun> args_;
  std::vector<std::vector<float>> thread_scratch_; // per thread: attention tiles, dequantized rows, FFN products
};

}  // namespace

namespace cpu {
const KernelTable& kernels_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512Vnni: return kernels_avx512vnni();
    case Isa::Avx512: return kernels_avx512();
    case Isa::Avx2: break;
  }
  return kernels_avx2();
}
}  // namespace cpu

bool cpu_backend_available() { return cpu::isa_supported(cpu::Isa::Avx2); }

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options) {
  const cpu::Isa isa = options.isa.empty() ? cpu::select_isa() : cpu::parse_isa(options.isa);
  return std::make_unique<CpuBackend>(cpu::kernels_for(isa), options.n_threads);
}

}  // namespace ponder
