#include "core/dtype.h"

#include <array>
#include <cctype>
#include <limits>
#include <string>

#include "core/error.h"

namespace ponder {
namespace {

struct Entry {
  DType type;
  DTypeInfo info;
};

constexpr std::array kTypes = {
    Entry{DType::F32, {"f32", 1, 4, false}},      Entry{DType::F16, {"f16", 1, 2, false}},
    Entry{DType::Q4_0, {"q4_0", 32, 18, true}},   Entry{DType::Q4_1, {"q4_1", 32, 20, true}},
    Entry{DType::Q5_0, {"q5_0", 32, 22, true}},   Entry{DType::Q5_1, {"q5_1", 32, 24, true}},
    Entry{DType::Q8_0, {"q8_0", 32, 34, true}},   Entry{DType::Q8_1, {"q8_1", 32, 36, true}},
    Entry{DType::Q2_K, {"q2_K", 256, 84, true}},  Entry{DType::Q3_K, {"q3_K", 256, 110, true}},
    Entry{DType::Q4_K, {"q4_K", 256, 144, true}}, Entry{DType::Q5_K, {"q5_K", 256, 176, true}},
    Entry{DType::Q6_K, {"q6_K", 256, 210, true}}, Entry{DType::Q8_K, {"q8_K", 256, 292, true}},
    Entry{DType::IQ4_NL, {"iq4_nl", 32, 18, true}}, Entry{DType::IQ4_XS, {"iq4_xs", 256, 136, true}},
    Entry{DType::IQ2_XXS, {"iq2_xxs", 256, 66, true}}, Entry{DType::IQ2_XS, {"iq2_xs", 256, 74, true}},
    Entry{DType::IQ2_S, {"iq2_s", 256, 82, true}},   Entry{DType::IQ3_XXS, {"iq3_xxs", 256, 98, true}},
    Entry{DType::IQ3_S, {"iq3_s", 256, 110, true}},  Entry{DType::IQ1_S, {"iq1_s", 256, 50, true}},
    Entry{DType::IQ1_M, {"iq1_m", 256, 56, true}},
    Entry{DType::I8, {"i8", 1, 1, false}},        Entry{DType::I16, {"i16", 1, 2, false}},
    Entry{DType::I32, {"i32", 1, 4, false}},      Entry{DType::I64, {"i64", 1, 8, false}},
    Entry{DType::F64, {"f64", 1, 8, false}},      Entry{DType::BF16, {"bf16", 1, 2, false}},
};

}  // namespace

const DTypeInfo* dtype_info(uint32_t type_id) {
  for (const auto& e : kTypes) {
    if (static_cast<uint32_t>(e.type) == type_id) return &e.info;
  }
  return nullptr;
}

const DTypeInfo& dtype_info(DType t) {
  const DTypeInfo* info = dtype_info(static_cast<uint32_t>(t));
  PONDER_CHECK(info != nullptr, "unknown dtype id {}", static_cast<uint32_t>(t));
  return *info;
}

uint64_t dtype_bytes(DType t, int64_t n) {
  const DTypeInfo& info = dtype_info(t);
  PONDER_CHECK(n >= 0, "negative element count {}", n);
  PONDER_CHECK(n % info.block_elems == 0, "{} elements is not a multiple of the {} block size {}", n,
               info.name, info.block_elems);
  const uint64_t n_blocks = static_cast<uint64_t>(n / info.block_elems);
  PONDER_CHECK(n_blocks <= std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(info.block_bytes),
               "byte size of {} {} elements overflows", n, info.name);
  return n_blocks * static_cast<uint64_t>(info.block_bytes);
}

DType dtype_from_name(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& e : kTypes) {
    std::string candidate(e.info.name);
    for (char& c : candidate) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (candidate == lower) return e.type;
  }
  fail("unknown dtype name '{}'", name);
}

}  // namespace ponder
