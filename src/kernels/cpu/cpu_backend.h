// CpuBackend ("cpu"): the SIMD backend for x86-64 with AVX2 (+FMA, F16C) or AVX-512 (with VNNI
// where present), chosen at run time (cpu_features.h; PONDER_CPU_ISA forces one). Weights of the
// common GGUF types are repacked at upload into row-interleaved layouts (repack.h) and multiplied
// by activations quantized per call to 8-bit (16-bit for Q8_0) blocks; other types fall back to
// dequantize-and-dot. Work is split over a ThreadPool by output row groups (matmul: runs of
// groups handed out dynamically, so a thread that loses its core on a shared machine does not
// hold the others at every matmul's end), rows (norms, element-wise ops) and (token tile, KV
// head) (attention). KV caches may be f32, f16 or q8_0 (kv_store quantizes with the same bytes as
// quant::quantize_row; attention dequantizes per block, see kernels_attention_impl.h).
//
// Memory: a repacked matrix takes the bytes of the original; once repacked, the source pages of
// a read-only file mapping are dropped from this process (MADV_DONTNEED, they stay in the page
// cache) so resident memory stays near one copy of the weights. Scratch (quantized activations,
// attention tiles, RoPE tables) grows to the largest batch seen and is then reused: nothing is
// allocated in the step loop once the first step of each size has run.
#pragma once

#include <memory>
#include <string>

#include "kernels/backend.h"

namespace ponder {

struct CpuBackendOptions {
  std::string isa;    // "" (best, or PONDER_CPU_ISA), "avx2", "avx512", "avx512-novnni"
  int n_threads = 0;  // <= 0: PONDER_THREADS or the hardware's count
};

// Throws ponder::Error if the CPU lacks the requested (or any usable) instruction set.
std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options = {});
// True if this machine can run the CPU backend at all (AVX2 with FMA and F16C).
bool cpu_backend_available();

}  // namespace ponder
