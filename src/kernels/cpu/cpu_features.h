// Which SIMD instruction sets this CPU and OS support, and which kernel set the CPU backend uses.
// Detected once with CPUID/XGETBV (the OS must save the wide registers, so AVX-512 needs XCR0's
// opmask and ZMM bits). PONDER_CPU_ISA=avx2|avx512 forces a kernel set (tests use it to run both
// paths); asking for one the CPU lacks is an error, never a crash.
#pragma once

#include <string>
#include <string_view>

namespace ponder::cpu {

struct CpuFeatures {
  bool avx2 = false;         // with FMA and F16C
  bool avx512 = false;       // F, BW, VL, DQ
  bool avx512_vnni = false;  // VPDPBUSD / VPDPWSSD
  bool avx512_bf16 = false;
};

const CpuFeatures& cpu_features();

// The kernel sets, best first.
enum class Isa { Avx2, Avx512, Avx512Vnni };
std::string_view isa_name(Isa isa);
// True if this machine can run the kernel set.
bool isa_supported(Isa isa);
// The best supported kernel set, or the one PONDER_CPU_ISA names ("avx2", "avx512": AVX-512 with
// VNNI where present, "avx512-novnni"). Throws ponder::Error if the named one is unsupported or the
// machine lacks even AVX2.
Isa select_isa();
// Parses "avx2" / "avx512" / "avx512-novnni" (as select_isa) and checks support; throws otherwise.
Isa parse_isa(std::string_view name);

}  // namespace ponder::cpu
