// Device-side helpers shared by the CUDA kernels: programmatic dependent launch, the launch
// wrapper, warp reductions, streaming loads, half conversions and the activation quantizer.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_kernels.h"

namespace ponder::cuda {

bool pdl_enabled();

// Every kernel calls pdl_trigger() first (lets the next kernel in the stream be scheduled once all
// of this grid's blocks run) and pdl_wait() before it reads anything an earlier kernel wrote or
// writes anything an earlier kernel reads. Weights are written only at upload, so matvec kernels
// may load their first weights before waiting. Both are no-ops without PDL or below sm_90.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

template <typename... KArgs, typename... Args>
cudaError_t launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return cudaSuccess;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1] = {};
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, static_cast<KArgs>(args)...);
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_sum(float v, float* smem32) {
  v = warp_sum(v);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, n_warps = blockDim.x >> 5;
  if (n_warps == 1) return v;
  __syncthreads();  // smem32 may still be read by an earlier call
  if (lane == 0) smem32[warp] = v;
  __syncthreads();
  v = lane < n_warps ? smem32[lane] : 0.0f;
  return warp_sum(v);
}

// Sum (or, with max, maximum) over a block of blockDim.x threads (a multiple of 32, at most 1024);
// every thread gets it. Synchronizes the block.
__device__ __forceinline__ float block_sum_max(float v, float* smem32, bool max) {
  v = max ? warp_max(v) : warp_sum(v);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, n_warps = blockDim.x >> 5;
  __syncthreads();  // smem32 may still be read by an earlier call
  if (lane == 0) smem32[warp] = v;
  __syncthreads();
  v = lane < n_warps ? smem32[lane] : (max ? -INFINITY : 0.0f);
  return max ? warp_max(v) : warp_sum(v);
}

// Weight loads: read once, so they bypass L1 (which keeps the activations every warp re-reads).
__device__ __forceinline__ uint4 ld_stream(const void* p) {
  uint4 r;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
      : "l"(p));
  return r;
}
__device__ __forceinline__ uint32_t ld_stream_u16(const void* p) {
  unsigned short r;
  asm("ld.global.nc.L1::no_allocate.u16 %0, [%1];" : "=h"(r) : "l"(p));
  return r;
}

__device__ __forceinline__ float h2f(uint32_t bits16) { return __half2float(__ushort_as_half(static_cast<unsigned short>(bits16))); }

// Quantizes one value per lane of a full warp into q, where the 32 lanes hold elements
// e0 .. e0 + 31 (e0 a multiple of 32) and lane i holds e0 + i. All 32 lanes must call it.
__device__ __forceinline__ void q8_emit(const Q8Act& q, int64_t e, float v) {
  const int lane = threadIdx.x & 31;
  const float amax = warp_max(fabsf(v));
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  const float t = v * inv;
  const float hi = fminf(fmaxf(rintf(t), -127.0f), 127.0f);
  const float lo = fminf(fmaxf(rintf((t - hi) * 254.0f), -127.0f), 127.0f);
  q.hi[e] = static_cast<int8_t>(hi);
  q.lo[e] = static_cast<int8_t>(lo);
  // The sums are of the values the planes represent, not of v: a weight format's minimum / offset
  // term then cancels against the integer dot product exactly instead of amplifying the error.
  const float d = amax / 127.0f;
  float s = d * (hi + lo * (1.0f / 254.0f));
  s += __shfl_xor_sync(0xffffffffu, s, 8);
  s += __shfl_xor_sync(0xffffffffu, s, 4);
  s += __shfl_xor_sync(0xffffffffu, s, 2);
  s += __shfl_xor_sync(0xffffffffu, s, 1);
  if ((lane & 15) == 0) q.s16[e >> 4] = s;
  if (lane == 0) q.d[e >> 5] = d;
}

}  // namespace ponder::cuda
