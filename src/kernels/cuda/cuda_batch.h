// BatchCache: the CUDA backend's device copies of per-batch index data (positions, block tables,
// rows to gather, the RoPE frequencies). The ops receive these as host spans; a forward pass
// passes the same content to every layer, so each copy is kept with its host image and uploaded
// again only when the content differs (a memcmp, O(batch size), per call).
//
// The attention metadata is one packed int32 array:
//   positions (n_tokens) | seq_index (n_tokens) | table offsets (n_seqs + 1) | table ids | tiles
// where tiles are (first token, count) pairs of up to 4 consecutive tokens of one sequence, used by
// the prefill attention kernel. It is validated (positions inside their block tables, block ids
// inside the cache) when it is built, and throws ponder::Error naming the bad entry.
// Only included by CUDA-built sources.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_kernels.h"

namespace ponder::cuda {

struct BatchInfo {
  BatchDev dev;
  bool decode = false;  // every tile holds one token: use the decode attention kernel
  int64_t max_len = 0;  // longest attended context, max(position) + 1
};

class BatchCache {
 public:
  BatchCache() = default;
  BatchCache(const BatchCache&) = delete;
  BatchCache& operator=(const BatchCache&) = delete;
  ~BatchCache() { release(); }
  void release();

  const int32_t* positions(std::span<const int32_t> positions, cudaStream_t s);
  const int32_t* rows(std::span<const int32_t> rows, cudaStream_t s);
  const float* inv_freq(const std::vector<float>& inv_freq, cudaStream_t s);
  const BatchInfo& attention(const KvLayerView& kv, const AttentionBatch& batch, cudaStream_t s);
  // True if the device copy made by the last positions() / inv_freq() holds exactly this content.
  bool holds_positions(std::span<const int32_t> positions) const;
  bool holds_inv_freq(const std::vector<float>& inv_freq) const;
  // Counts reallocations of the device copies (recorded CUDA graphs hold their addresses).
  uint64_t epoch() const { return epoch_; }

 private:
  struct Slot {
    std::vector<int32_t> host;
    void* dev = nullptr;
    size_t dev_bytes = 0;
  };
  // Uploads `want` into slot unless it already holds it; returns the device copy.
  const int32_t* sync(Slot& slot, std::vector<int32_t>& want, cudaStream_t s);
  void build_attention(const KvLayerView& kv, const AttentionBatch& batch);

  Slot positions_, rows_, rope_, meta_;
  std::vector<int32_t> scratch_;
  BatchInfo info_;
  int64_t kv_block_size_ = 0, kv_n_blocks_ = 0;
  uint64_t epoch_ = 0;
};

}  // namespace ponder::cuda
