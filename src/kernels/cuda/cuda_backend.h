// The CUDA backend: every Backend op on one NVIDIA GPU, with weights, activations and the paged KV
// cache in device memory. This header is plain C++ (no CUDA headers), so the registry and the tests
// include it in every build; the definitions exist only when PONDER_HAVE_CUDA is defined (the
// `cuda` preset), and the registry calls them only then.
//
// Design in short (details at the top of each source file):
//  - matmul with few rows (decode, small batches): one kernel per weight dtype that reads each
//    weight byte once and dequantizes in registers; activations are quantized to two int8 planes
//    (x ~ d * (hi + lo / 254) per 32 elements, ~15 bits) so K-quant and legacy blocks use dp4a.
//  - matmul with many rows (prefill): weights dequantized to f16 in row chunks, then cuBLAS on the
//    tensor cores (f16 and bf16 weights go to cuBLAS directly).
//  - flash-style attention over the paged cache, GQA-aware, split over the context when there are
//    few queries (decode), f16 or f32 cache.
//  - every CUDA call is checked; a failure throws ponder::Error naming the call and the CUDA error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/backend.h"

namespace ponder {

// True if the CUDA runtime finds a usable device. Never throws: no driver, no device or a broken
// installation all read as false.
bool cuda_device_available();

// A backend on device 0. Throws ponder::Error if the device cannot be initialised.
std::unique_ptr<Backend> make_cuda_backend();

// Helpers for benchmarks and tests that need device-side data without a host copy. `backend` must
// be a CUDA backend (throws otherwise).

// A weight matrix of random blocks with sane scales, made directly in device memory (no host
// copy), in the layout upload_matrix produces. Owned by the backend.
MatrixView cuda_random_matrix(Backend& backend, DType dtype, int64_t n_out, int64_t n_in, uint64_t seed);
// Fills n elements at device pointer p (f32 or f16) with uniform random values in [-scale, scale].
void cuda_fill_random(Backend& backend, void* p, DType dtype, int64_t n, float scale, uint64_t seed);
// Device-to-device copy bandwidth in GB/s counting bytes read plus bytes written, measured with
// cudaMemcpy of a `bytes`-sized buffer (the roofline for memory-bound kernels).
double cuda_copy_bandwidth_gbs(Backend& backend, size_t bytes);
// "NVIDIA H100 80GB HBM3, 132 SMs, 79.1 GiB, sm_90, driver 13.0" or similar.
std::string cuda_device_description(Backend& backend);

}  // namespace ponder
