// Weight handling on the device: repacking GGUF blocks into the plane layouts (cuda_kernels.h),
// dequantizing rows to f16 for the tensor-core path, converting activations to f16 / bf16, and
// random data for benchmarks. All of it runs once per upload or once per large matmul, so it is
// written for clarity; the dequantizer reuses the matvec units so both paths decode identically.
#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/quant_units.cuh"

namespace ponder::cuda {
namespace {

// One thread per block: copies GGUF block `b` (2-byte aligned, read as u16) into the planes.
template <int kBytes>
__device__ void copy_u16(const uint8_t* src, uint8_t* dst) {
  const auto* s = reinterpret_cast<const uint16_t*>(src);
  auto* d = reinterpret_cast<uint16_t*>(dst);
#pragma unroll 8
  for (int i = 0; i < kBytes / 2; ++i) d[i] = s[i];
}

__global__ void repack_q6k_kernel(const uint8_t* __restrict__ src, uint8_t* __restrict__ dst, int64_t b0, int64_t n,
                                  int64_t n_total) {
  pdl_trigger();
  pdl_wait();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint8_t* s = src + i * 210;
  const int64_t b = b0 + i;
  copy_u16<128>(s, dst + 128 * b);
  copy_u16<64>(s + 128, dst + 128 * n_total + 64 * b);
  copy_u16<16>(s + 192, dst + 192 * n_total + 16 * b);
  copy_u16<2>(s + 208, dst + 208 * n_total + 2 * b);
}

template <int kQsBytes>
__global__ void repack_legacy_kernel(const uint8_t* __restrict__ src, uint8_t* __restrict__ dst, int64_t b0,
                                     int64_t n, int64_t n_total) {
  pdl_trigger();
  pdl_wait();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const uint8_t* s = src + i * (kQsBytes + 2);
  const int64_t b = b0 + i;
  copy_u16<kQsBytes>(s + 2, dst + kQsBytes * b);
  copy_u16<2>(s, dst + kQsBytes * n_total + 2 * b);
}

__device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Random bytes for a whole block, then sane f16 scales: |weights| stay around 0.01-0.1.
__global__ void random_blocks_kernel(uint8_t* __restrict__ dst, int block_bytes, int kind, int64_t n_blocks,
                                     uint64_t seed) {
  pdl_trigger();
  pdl_wait();
  const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= n_blocks) return;
  uint8_t* p = dst + b * block_bytes;
  auto* p16 = reinterpret_cast<uint16_t*>(p);  // blocks are 2-byte aligned
  uint64_t state = seed ^ (static_cast<uint64_t>(b) * 0xD1B54A32D192ED03ull);
  for (int i = 0; i < block_bytes / 2; ++i) {
    if (i % 4 == 0) state = splitmix64(state);
    p16[i] = static_cast<uint16_t>(state >> (16 * (i % 4)));
  }
  const uint64_t r = splitmix64(state);
  const auto scale = [&](float lo, int shift) {
    return __half_as_ushort(__float2half(lo * (1.0f + static_cast<float>((r >> shift) & 0xFF) / 255.0f)));
  };
  switch (kind) {
    case 0:  // Q4_K / Q5_K: d, dmin at the start
      p16[0] = scale(2e-4f, 0);
      p16[1] = scale(2e-4f, 8);
      break;
    case 1:  // Q6_K: d at byte 208
      p16[104] = scale(1e-4f, 0);
      break;
    default:  // Q8_0 / Q4_0: d at the start
      p16[0] = scale(kind == 2 ? 4e-4f : 4e-3f, 0);
      break;
  }
}

__global__ void fill_random_kernel(void* __restrict__ dst, bool f16, int64_t n, float scale, uint64_t seed) {
  pdl_trigger();
  pdl_wait();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const uint64_t r = splitmix64(seed ^ (static_cast<uint64_t>(i) * 0xD1B54A32D192ED03ull));
    const float v = scale * (static_cast<float>(r >> 40) * (2.0f / 16777216.0f) - 1.0f);
    if (f16) {
      static_cast<__half*>(dst)[i] = __float2half_rn(v);
    } else {
      static_cast<float*>(dst)[i] = v;
    }
  }
}

__device__ __forceinline__ void store_half16(__half* dst, const uint32_t* w, float s, float m) {
  __align__(16) __half h[16];
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int q = static_cast<int8_t>((w[i >> 2] >> (8 * (i & 3))) & 0xFFu);
    h[i] = __float2half_rn(s * static_cast<float>(q) + m);
  }
  reinterpret_cast<uint4*>(dst)[0] = reinterpret_cast<const uint4*>(h)[0];
  reinterpret_cast<uint4*>(dst)[1] = reinterpret_cast<const uint4*>(h)[1];
}

template <class Tr>
__global__ void dequant_f16_kernel(const uint8_t* __restrict__ w, __half* __restrict__ dst, int64_t n_out,
                                   int64_t n_in, int64_t row0, int64_t n_rows) {
  pdl_trigger();
  pdl_wait();
  const int n_units = static_cast<int>(n_in / 32);
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n_rows * n_units) return;
  const int64_t r = idx / n_units;
  const int u = static_cast<int>(idx % n_units);
  const int64_t nb = n_in / Tr::kBlockElems;
  typename Tr::Raw raw;
  Tr::load(raw, w, row0 + r, u, nb, n_out * nb);
  Unit q;
  Tr::decode(raw, u, q);
  int oa, ob;
  Tr::offsets(u, oa, ob);
  store_half16(dst + r * n_in + oa, q.wa, q.sa, q.ma);
  store_half16(dst + r * n_in + ob, q.wb, q.sb, q.mb);
}

__global__ void convert_kernel(const float* __restrict__ x, void* __restrict__ dst, int64_t n, bool bf16) {
  pdl_trigger();
  pdl_wait();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    if (bf16) {
      static_cast<__nv_bfloat16*>(dst)[i] = __float2bfloat16_rn(x[i]);
    } else {
      static_cast<__half*>(dst)[i] = __float2half_rn(x[i]);
    }
  }
}

unsigned grid_for(int64_t n, int threads) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(ceil_div(n, threads), 1 << 20)));
}

}  // namespace

cudaError_t repack_rows(DType t, const void* src, void* dst, int64_t row0, int64_t n_rows, int64_t n_out, int64_t n_in,
                        cudaStream_t s) {
  const auto* sp = static_cast<const uint8_t*>(src);
  auto* dp = static_cast<uint8_t*>(dst);
  const int threads = 256;
  switch (t) {
    case DType::Q6_K: {
      const int64_t nb = n_in / 256, n = n_rows * nb;
      return launch(repack_q6k_kernel, dim3(grid_for(n, threads)), dim3(threads), 0, s, sp, dp, row0 * nb, n, n_out * nb);
    }
    case DType::Q8_0: {
      const int64_t nb = n_in / 32, n = n_rows * nb;
      return launch(repack_legacy_kernel<32>, dim3(grid_for(n, threads)), dim3(threads), 0, s, sp, dp, row0 * nb, n,
                    n_out * nb);
    }
    case DType::Q4_0: {
      const int64_t nb = n_in / 32, n = n_rows * nb;
      return launch(repack_legacy_kernel<16>, dim3(grid_for(n, threads)), dim3(threads), 0, s, sp, dp, row0 * nb, n,
                    n_out * nb);
    }
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t random_blocks(DType t, void* dst, int64_t n_blocks, uint64_t seed, cudaStream_t s) {
  int bytes = 0, kind = 0;
  switch (t) {
    case DType::Q4_K: bytes = 144; kind = 0; break;
    case DType::Q5_K: bytes = 176; kind = 0; break;
    case DType::Q6_K: bytes = 210; kind = 1; break;
    case DType::Q8_0: bytes = 34; kind = 2; break;
    case DType::Q4_0: bytes = 18; kind = 3; break;
    default: return cudaErrorInvalidValue;
  }
  const int threads = 256;
  return launch(random_blocks_kernel, dim3(grid_for(n_blocks, threads)), dim3(threads), 0, s, static_cast<uint8_t*>(dst),
                bytes, kind, n_blocks, seed);
}

cudaError_t fill_random(void* dst, bool f16, int64_t n, float scale, uint64_t seed, cudaStream_t s) {
  const int threads = 256;
  return launch(fill_random_kernel, dim3(std::min(grid_for(n, threads), 65535u)), dim3(threads), 0, s, dst, f16, n, scale,
                seed);
}

cudaError_t dequant_rows_f16(DType t, const void* w, int64_t n_out, int64_t n_in, int64_t row0, int64_t n_rows, void* dst,
                             cudaStream_t s) {
  cudaError_t err = cudaErrorInvalidValue;
  const int threads = 256;
  const int64_t n = n_rows * (n_in / 32);
  dispatch_quant(t, [&](auto tr) {
    using Tr = decltype(tr);
    err = launch(dequant_f16_kernel<Tr>, dim3(grid_for(n, threads)), dim3(threads), 0, s, static_cast<const uint8_t*>(w),
                 static_cast<__half*>(dst), n_out, n_in, row0, n_rows);
  });
  return err;
}

cudaError_t convert_f32(const float* x, void* dst, int64_t n, bool bf16, cudaStream_t s) {
  const int threads = 256;
  return launch(convert_kernel, dim3(std::min(grid_for(n, threads), 65535u)), dim3(threads), 0, s, x, dst, n, bf16);
}

}  // namespace ponder::cuda
