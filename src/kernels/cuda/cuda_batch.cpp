// BatchCache (see cuda_batch.h): host images of the per-batch index arrays and their device copies.
#ifdef PONDER_HAVE_CUDA

#include "kernels/cuda/cuda_batch.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/cuda/cuda_memory.h"

namespace ponder::cuda {
void BatchCache::release() {
  for (Slot* s : {&positions_, &rows_, &rope_, &meta_}) {
    if (s->dev != nullptr) cudaFree(s->dev);
    ++epoch_;
    s->dev = nullptr;
    s->dev_bytes = 0;
    s->host.clear();
  }
}

const int32_t* BatchCache::sync(Slot& slot, std::vector<int32_t>& want, cudaStream_t s) {
  const size_t bytes = want.size() * sizeof(int32_t);
  if (slot.dev != nullptr && slot.host.size() == want.size() && std::memcmp(slot.host.data(), want.data(), bytes) == 0) {
    return static_cast<const int32_t*>(slot.dev);
  }
  if (bytes > slot.dev_bytes || slot.dev == nullptr) {
    if (slot.dev != nullptr) {
      check_cuda(cudaStreamSynchronize(s), "cudaStreamSynchronize");  // queued kernels may read the old copy
      check_cuda(cudaFree(slot.dev), "cudaFree");
      slot.dev = nullptr;
    }
    slot.dev_bytes = std::max<size_t>(std::max(bytes, slot.dev_bytes * 2), 256);
    ++epoch_;
    check_cuda(cudaMalloc(&slot.dev, slot.dev_bytes), "cudaMalloc (batch metadata)");
  }
  slot.host.swap(want);
  // Pageable source: returns once staged; stream order keeps earlier kernels on the old content.
  if (bytes > 0) check_cuda(cudaMemcpyAsync(slot.dev, slot.host.data(), bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
  return static_cast<const int32_t*>(slot.dev);
}

const int32_t* BatchCache::positions(std::span<const int32_t> positions, cudaStream_t s) {
  scratch_.assign(positions.begin(), positions.end());
  return sync(positions_, scratch_, s);
}

bool BatchCache::holds_positions(std::span<const int32_t> positions) const {
  return positions_.dev != nullptr && positions_.host.size() == positions.size() &&
         std::memcmp(positions_.host.data(), positions.data(), positions.size() * sizeof(int32_t)) == 0;
}

bool BatchCache::holds_inv_freq(const std::vector<float>& inv_freq) const {
  return rope_.dev != nullptr && rope_.host.size() == inv_freq.size() &&
         std::memcmp(rope_.host.data(), inv_freq.data(), inv_freq.size() * sizeof(float)) == 0;
}

const int32_t* BatchCache::rows(std::span<const int32_t> rows, cudaStream_t s) {
  scratch_.assign(rows.begin(), rows.end());
  return sync(rows_, scratch_, s);
}

const float* BatchCache::inv_freq(const std::vector<float>& inv_freq, cudaStream_t s) {
  scratch_.resize(inv_freq.size());
  if (!inv_freq.empty()) std::memcpy(scratch_.data(), inv_freq.data(), inv_freq.size() * sizeof(float));
  return reinterpret_cast<const float*>(sync(rope_, scratch_, s));
}

void BatchCache::build_attention(const KvLayerView& kv, const AttentionBatch& batch) {
  const size_t n = batch.positions.size();
  PONDER_CHECK(batch.seq_index.size() == n, "attention batch: {} positions but {} sequence indices", n,
               batch.seq_index.size());
  scratch_.clear();
  scratch_.insert(scratch_.end(), batch.positions.begin(), batch.positions.end());
  scratch_.insert(scratch_.end(), batch.seq_index.begin(), batch.seq_index.end());
  int32_t offset = 0;
  for (const auto& table : batch.block_tables) {
    scratch_.push_back(offset);
    offset += static_cast<int32_t>(table.size());
  }
  scratch_.push_back(offset);
  for (const auto& table : batch.block_tables) scratch_.insert(scratch_.end(), table.begin(), table.end());
  (void)kv;
  // Tiles: runs of up to 4 consecutive tokens of the same sequence.
  for (size_t t = 0; t < n;) {
    size_t e = t + 1;
    while (e < n && e - t < 4 && batch.seq_index[e] == batch.seq_index[t]) ++e;
    scratch_.push_back(static_cast<int32_t>(t));
    scratch_.push_back(static_cast<int32_t>(e - t));
    t = e;
  }
}

const BatchInfo& BatchCache::attention(const KvLayerView& kv, const AttentionBatch& batch, cudaStream_t s) {
  build_attention(kv, batch);
  const bool same_kv = kv.block_size == kv_block_size_ && kv.n_blocks == kv_n_blocks_;
  if (same_kv && meta_.dev != nullptr && meta_.host.size() == scratch_.size() &&
      std::memcmp(meta_.host.data(), scratch_.data(), scratch_.size() * sizeof(int32_t)) == 0) {
    return info_;
  }
  // New content: validate it as the reference backend does, then upload.
  const size_t n = batch.positions.size();
  std::vector<int32_t> max_pos(batch.block_tables.size(), -1);
  int32_t max_all = 0;
  for (size_t t = 0; t < n; ++t) {
    const int32_t seq = batch.seq_index[t], pos = batch.positions[t];
    PONDER_CHECK(seq >= 0 && static_cast<size_t>(seq) < batch.block_tables.size(),
                 "token {} names sequence {} of {}", t, seq, batch.block_tables.size());
    const auto& table = batch.block_tables[static_cast<size_t>(seq)];
    PONDER_CHECK(pos >= 0 && pos / kv.block_size < static_cast<int64_t>(table.size()),
                 "position {} is outside the block table ({} blocks)", pos, table.size());
    max_pos[static_cast<size_t>(seq)] = std::max(max_pos[static_cast<size_t>(seq)], pos);
    max_all = std::max(max_all, pos);
  }
  for (size_t q = 0; q < batch.block_tables.size(); ++q) {
    for (int64_t i = 0; i <= max_pos[q] / kv.block_size && max_pos[q] >= 0; ++i) {
      const int32_t block = batch.block_tables[q][static_cast<size_t>(i)];
      PONDER_CHECK(block >= 0 && block < kv.n_blocks, "block id {} out of range ({} blocks)", block, kv.n_blocks);
    }
  }
  const size_t n_seqs = batch.block_tables.size();
  const size_t tiles_at = 2 * n + n_seqs + 1 + static_cast<size_t>(scratch_[2 * n + n_seqs]);
  const int n_tiles = static_cast<int>((scratch_.size() - tiles_at) / 2);
  const auto* dev = sync(meta_, scratch_, s);
  kv_block_size_ = kv.block_size;
  kv_n_blocks_ = kv.n_blocks;
  info_.dev.positions = dev;
  info_.dev.seq_index = dev + n;
  info_.dev.table_offsets = dev + 2 * n;
  info_.dev.table_ids = dev + 2 * n + n_seqs + 1;
  info_.dev.tiles = dev + tiles_at;
  info_.dev.n_tokens = static_cast<int>(n);
  info_.dev.n_tiles = n_tiles;
  info_.decode = static_cast<size_t>(n_tiles) == n;
  info_.max_len = static_cast<int64_t>(max_all) + 1;
  return info_;
}

}  // namespace ponder::cuda

#endif  // PONDER_HAVE_CUDA
