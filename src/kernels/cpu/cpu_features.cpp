#include "kernels/cpu/cpu_features.h"

#include <cpuid.h>

#include <cstdint>
#include <cstdlib>

#include "core/error.h"

namespace ponder::cpu {
namespace {

uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return f;
  const bool osxsave = (c >> 27) & 1;
  const bool fma = (c >> 12) & 1;
  const bool f16c = (c >> 29) & 1;
  const bool avx = (c >> 28) & 1;
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return f;
  const bool avx2 = (b >> 5) & 1;
  f.avx2 = ymm_state && avx2 && fma && f16c;
  const bool avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
  f.avx512 = f.avx2 && zmm_state && avx512f && avx512dq && avx512bw && avx512vl;
  f.avx512_vnni = f.avx512 && ((c >> 11) & 1);
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) != 0) f.avx512_bf16 = f.avx512 && ((a1 >> 5) & 1);
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Vnni: return "avx512-vnni";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::Avx2: return f.avx2;
    case Isa::Avx512: return f.avx512;
    case Isa::Avx512Vnni: return f.avx512_vnni;
  }
  return false;
}

Isa parse_isa(std::string_view name) {
  Isa isa;
  if (name == "avx2") {
    isa = Isa::Avx2;
  } else if (name == "avx512" || name == "avx512-vnni") {
    isa = isa_supported(Isa::Avx512Vnni) || name == "avx512-vnni" ? Isa::Avx512Vnni : Isa::Avx512;
  } else if (name == "avx512-novnni") {
    isa = Isa::Avx512;
  } else {
    fail("unknown CPU instruction set '{}' (expected avx2, avx512, avx512-vnni or avx512-novnni)", name);
  }
  PONDER_CHECK(isa_supported(isa), "this CPU does not support the {} kernels", isa_name(isa));
  return isa;
}

Isa select_isa() {
  if (const char* env = std::getenv("PONDER_CPU_ISA"); env != nullptr && *env != '\0') return parse_isa(env);
  if (isa_supported(Isa::Avx512Vnni)) return Isa::Avx512Vnni;
  if (isa_supported(Isa::Avx512)) return Isa::Avx512;
  PONDER_CHECK(isa_supported(Isa::Avx2), "the CPU backend needs AVX2 with FMA and F16C, which this CPU lacks");
  return Isa::Avx2;
}

}  // namespace ponder::cpu
