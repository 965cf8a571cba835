// StepGraphs: the CUDA backend's recorded decode steps. A forward pass's layer loop issues ~700
// kernels whose launch cost (CPU time and the gaps between kernels) is a large part of a decode
// step; recorded once as a CUDA graph per step shape and replayed, the whole loop is one launch.
//
// A graph bakes in every pointer and size its kernels were launched with, so:
//  - per-step inputs (the residual stream x, positions, block tables) live at fixed device
//    addresses and are uploaded before the replay (the backend does that);
//  - a recording is valid only while nothing it references was freed or moved: the backend bumps
//    an epoch whenever device memory is freed or a scratch buffer is reallocated, and a recording
//    made under an older epoch is dropped and made again;
//  - a shape is run eagerly the first time it is seen under an epoch (which grows every scratch
//    buffer to its size), recorded the second time, replayed after that.
// Recording fails cleanly (the op that cannot be captured throws; the shape is then never
// recorded again and runs eagerly). Cost: recording ~1 ms per 1000 kernels, once per shape.
// Only included by CUDA-built sources.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <tuple>

namespace ponder::cuda {

struct StepKey {
  int64_t n_tokens = 0;
  int64_t n_seqs = 0;
  const void* kv = nullptr;  // the cache (its layer 0 K array)
  auto tie() const { return std::tie(n_tokens, n_seqs, kv); }
  bool operator<(const StepKey& o) const { return tie() < o.tie(); }
};

class StepGraphs {
 public:
  StepGraphs() = default;
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;
  ~StepGraphs() { clear(); }

  // Runs `step` (which enqueues work on `stream`) for `key`: eagerly, recorded, or replayed (see
  // above). `reset` is called after a failed recording, before `step` runs again eagerly.
  void run(const StepKey& key, uint64_t epoch, cudaStream_t stream, const std::function<void()>& step,
           const std::function<void()>& reset);
  void clear();
  int64_t n_replays() const { return n_replays_; }
  int64_t n_recordings() const { return n_recordings_; }

 private:
  struct Entry {
    cudaGraphExec_t exec = nullptr;
    uint64_t epoch = 0;       // of exec
    uint64_t seen_epoch = ~uint64_t{0};
    bool failed = false;      // recording failed once: always eager
  };
  bool record(Entry& e, cudaStream_t stream, const std::function<void()>& step);

  std::map<StepKey, Entry> entries_;
  int64_t n_replays_ = 0, n_recordings_ = 0;
};

}  // namespace ponder::cuda
