// AVX-512 (F, BW, VL, DQ) kernels: kernels_impl.h over 512-bit primitives, R = 16 rows per weight
// group; int8 dot products as AVX2 (vpmaddubsw + vpmaddwd). Compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq (see CMakeLists.txt); no global constructors, everything internal.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/cpu/kernels.h"

// Kernels are templates over these primitives; every call must inline, or vector arguments go
// through memory (GCC otherwise outlines e.g. a dot product called from 16 places).
#define PONDER_AI inline __attribute__((always_inline))

namespace ponder::cpu {
namespace {

#include "kernels/cpu/kernels_avx512_prims.h"

namespace isa {
constexpr Isa kIsa = Isa::Avx512;
}

using namespace isa;
#include "kernels/cpu/kernels_impl.h"

}  // namespace

const KernelTable& kernels_avx512() { return kTable; }

}  // namespace ponder::cpu
