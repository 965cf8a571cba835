// The generated rows of the bulk quantization check, bit-identical to fuzz_rows() in
// tools/make_quant_vectors.py (whose comment is the specification). Only integer arithmetic and
// single IEEE float operations are used, each in its own statement where two could otherwise be
// fused into an FMA, so numpy and C++ produce the same floats. Cost: 2048 x 256 floats, a few
// milliseconds to make.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace ponder::quant::test {

inline constexpr int64_t kFuzzRowElems = 256;

inline uint64_t fuzz_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class FuzzRows {
 public:
  explicit FuzzRows(uint64_t seed) : seed_(seed) {}

  // Returns n_rows rows of kFuzzRowElems floats, row-major.  // (n_rows, 256)
  std::vector<float> make(int64_t n_rows) const {
    std::vector<float> x(static_cast<size_t>(n_rows * kFuzzRowElems));
    for (int64_t r = 0; r < n_rows; ++r) {
      const uint64_t p = draw(8 * static_cast<uint64_t>(kFuzzRowElems * r) + 7);
      const int kind = static_cast<int>(p % 8);
      const int exponent = static_cast<int>((p >> 8) % 22) - 12;
      const float mantissa = 1.0f + static_cast<float>((p >> 16) & 255) / 256.0f;
      const float scale = mantissa * std::ldexp(1.0f, exponent);  // exact
      for (int64_t j = 0; j < kFuzzRowElems; ++j) {
        x[static_cast<size_t>(r * kFuzzRowElems + j)] = element(kind, scale, r, j);
      }
    }
    return x;
  }

 private:
  uint64_t draw(uint64_t k) const { return fuzz_mix64(seed_ + k * 0x9E3779B97F4A7C15ull); }
  static float u(uint64_t z) { return static_cast<float>(z >> 40) * 0x1p-24f; }
  static float sym(uint64_t z) {
    const float twice = 2.0f * u(z);
    return twice - 1.0f;
  }

  float element(int kind, float scale, int64_t r, int64_t j) const {
    const uint64_t i = static_cast<uint64_t>(r * kFuzzRowElems + j);
    const uint64_t a = draw(8 * i + 0);
    const uint64_t b = draw(8 * i + 1);
    switch (kind) {
      case 0:
        return sym(a) * scale;
      case 1: {
        float s = sym(a) + sym(b);
        s = s + sym(draw(8 * i + 2));
        s = s + sym(draw(8 * i + 3));
        return s * scale;
      }
      case 2:
        return a % 10 < 7 ? 0.0f : sym(b) * scale;
      case 3:
        return -(u(a) * scale);
      case 4: {
        const float scaled = u(a) * scale;
        return scaled + scale;
      }
      case 5: {
        const float quarter = static_cast<float>(static_cast<int>(a % 41) - 20) * 0.25f;
        return quarter * scale;
      }
      case 6: {
        const float v = sym(a) * scale;
        return b % 64 == 0 ? v * 64.0f : v;
      }
      default: {
        const uint64_t group = static_cast<uint64_t>(r * kFuzzRowElems + 32 * (j / 32));
        return sym(draw(8 * group + 4)) * scale;
      }
    }
  }

  uint64_t seed_;
};

// FNV-1a-32 of a byte range, the hash make_quant_vectors.py stores per quantized row.
inline uint32_t fnv1a32(const uint8_t* data, size_t n) {
  uint32_t h = 0x811C9DC5u;
  for (size_t i = 0; i < n; ++i) h = (h ^ data[i]) * 0x01000193u;
  return h;
}

}  // namespace ponder::quant::test
