// NFC normalization (Unicode 15.1 UAX #15): canonical decomposition, canonical ordering, then
// canonical composition, with the tables tokenizers' NFC uses (see unicode_data.h).
//
// Cost: one pass to decompose, sorting only runs of combining marks (a few code points each), one
// pass to compose. Callers check needs_nfc() first, so text that is already NFC costs one scan.
#include <algorithm>
#include <vector>

#include "text/unicode.h"
#include "text/unicode_data.h"

namespace ponder::unicode {
namespace {

// Hangul syllables compose and decompose by arithmetic (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

const unicode_data::Decomposition* find_decomposition(char32_t cp) {
  const auto* begin = unicode_data::kDecompositions;
  const auto* end = begin + unicode_data::kDecompositions_count;
  const auto* it = std::lower_bound(begin, end, static_cast<uint32_t>(cp),
                                    [](const unicode_data::Decomposition& d, uint32_t c) { return d.cp < c; });
  return it != end && it->cp == cp ? it : nullptr;
}

void decompose(char32_t cp, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (cp >= 0xC0) {
    if (const auto* d = find_decomposition(cp)) {
      decompose(d->first, out);  // recursion depth is at most 4 in Unicode's data
      if (d->second != 0) decompose(d->second, out);
      return;
    }
  }
  out.push_back(cp);
}

// The primary composite of first + second, or 0.
char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 && second > kTBase &&
      second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const auto* begin = unicode_data::kCompositions;
  const auto* end = begin + unicode_data::kCompositions_count;
  const auto* it = std::lower_bound(begin, end, std::pair<uint32_t, uint32_t>(first, second),
                                    [](const unicode_data::Composition& c, std::pair<uint32_t, uint32_t> key) {
                                      return std::pair<uint32_t, uint32_t>(c.first, c.second) < key;
                                    });
  return it != end && it->first == first && it->second == second ? it->composite : 0;
}

}  // namespace

bool needs_nfc(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    // Nothing below U+0300 can change under NFC; U+0300 needs at least a 2-byte lead of 0xCC.
    if (static_cast<unsigned char>(*p) < 0xCC) {
      ++p;
      continue;
    }
    char32_t cp;
    int n = decode_utf8(p, end, &cp);
    if (n < 0) return true;  // not valid UTF-8: let nfc() see it (it replaces nothing, only reorders)
    if (flags(cp) & kNfcCheck) return true;
    p += n;
  }
  return false;
}

std::string nfc(std::string_view s) {
  std::vector<char32_t> cps;  // (n_code_points_after_decomposition)
  cps.reserve(s.size());
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    char32_t cp;
    int n = decode_utf8(p, end, &cp);
    decompose(cp, cps);
    p += n < 0 ? -n : n;
  }
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < cps.size();) {
    if (combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && combining_class(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  // Canonical composition: each character combines with the last starter unless blocked.
  std::string out;
  out.reserve(s.size());
  std::vector<char32_t> composed;
  composed.reserve(cps.size());
  ptrdiff_t starter = -1;
  int last_ccc = -1;  // class of the last character kept after the starter; -1: none yet
  for (char32_t cp : cps) {
    int ccc = combining_class(cp);
    if (starter >= 0 && (last_ccc == -1 || last_ccc < ccc)) {
      char32_t c = compose_pair(composed[static_cast<size_t>(starter)], cp);
      if (c != 0) {
        composed[static_cast<size_t>(starter)] = c;
        continue;
      }
    }
    if (ccc == 0) {
      starter = static_cast<ptrdiff_t>(composed.size());
      last_ccc = -1;
    } else {
      last_ccc = ccc;
    }
    composed.push_back(cp);
  }
  for (char32_t cp : composed) append_utf8(out, cp);
  return out;
}

}  // namespace ponder::unicode
