// Device memory of the CUDA backend: DeviceMemory counts what the backend allocates against the
// memory budget (--vram-limit) and keeps the epoch recorded decode graphs are valid in (bumped on
// every free, since a graph may hold the freed address); Scratch is a device buffer that grows on
// demand. Both throw ponder::Error naming the need and the limit when memory runs out.
// Cost: one cudaMalloc / cudaFree per call, a hash-map entry per live allocation.
// Only included by CUDA-built sources.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "core/error.h"

namespace ponder::cuda {

// Throws ponder::Error naming the failed call. The error is cleared first (a non-sticky one, e.g.
// out of memory, leaves the backend usable).
inline void check_cuda(cudaError_t e, const char* call) {
  if (e != cudaSuccess) {
    cudaGetLastError();
    fail("CUDA error in {}: {} ({})", call, cudaGetErrorString(e), cudaGetErrorName(e));
  }
}

// Device memory the backend allocates, counted against the budget (--vram-limit), and the epoch
// recorded decode graphs are valid in: bumped whenever memory is freed, since a graph may hold it.
class DeviceMemory {
 public:
  void* malloc(size_t bytes, const char* what) {
    bytes = std::max<size_t>(bytes, 256);
    if (limit_ != 0 && used_ + bytes > limit_) {
      fail("CUDA: {} needs {} MiB more device memory, over the limit of {} MiB ({} MiB in use); raise "
           "--vram-limit or lower --ctx",
           what, bytes >> 20, limit_ >> 20, used_ >> 20);
    }
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      fail("CUDA: cannot allocate {} bytes of device memory for {} ({}; {} of {} bytes free)", bytes, what,
           cudaGetErrorString(e), free_bytes, total_bytes);
    }
    sizes_[p] = bytes;
    used_ += bytes;
    return p;
  }
  void free(void* p) {
    if (p == nullptr) return;
    const auto it = sizes_.find(p);
    if (it != sizes_.end()) {
      used_ -= it->second;
      sizes_.erase(it);
    }
    ++epoch_;
    check_cuda(cudaFree(p), "cudaFree");
  }
  void set_limit(uint64_t limit) { limit_ = limit; }
  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_; }
  uint64_t epoch() const { return epoch_; }

 private:
  std::unordered_map<void*, size_t> sizes_;
  uint64_t limit_ = 0, used_ = 0, epoch_ = 0;
};

// A device buffer that grows on demand. Growing waits for the stream, since queued kernels may
// still use the old allocation.
class Scratch {
 public:
  void* ensure(size_t bytes, cudaStream_t stream, DeviceMemory& mem) {
    if (bytes <= bytes_) return p_;
    if (p_ != nullptr) {
      check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
      mem.free(p_);
      p_ = nullptr;
      bytes_ = 0;
    }
    const size_t want = std::max(bytes, bytes_ + bytes_ / 2);
    p_ = mem.malloc(want, "scratch");
    bytes_ = want;
    return p_;
  }
  void release(DeviceMemory& mem) {
    if (p_ != nullptr) mem.free(p_);
    p_ = nullptr;
    bytes_ = 0;
  }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace ponder::cuda
