// AVX-512 VNNI kernels: as kernels_avx512.cpp, with the int8 and int16 dot products done by
// vpdpbusd / vpdpwssd (int32 accumulation, no int16 saturation limits, one instruction per 64
// multiply-adds). Compiled with the AVX-512 flags plus -mavx512vnni (see CMakeLists.txt).
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/cpu/kernels.h"

// Kernels are templates over these primitives; every call must inline, or vector arguments go
// through memory (GCC otherwise outlines e.g. a dot product called from 16 places).
#define PONDER_AI inline __attribute__((always_inline))

#define PONDER_VNNI 1

namespace ponder::cpu {
namespace {

#include "kernels/cpu/kernels_avx512_prims.h"

namespace isa {
constexpr Isa kIsa = Isa::Avx512Vnni;
}

using namespace isa;
#include "kernels/cpu/kernels_impl.h"

}  // namespace

const KernelTable& kernels_avx512vnni() { return kTable; }

}  // namespace ponder::cpu
