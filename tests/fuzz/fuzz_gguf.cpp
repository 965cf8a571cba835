// libFuzzer target for parse_gguf. Any input must either parse or throw ponder::Error; anything
// else (a crash, a sanitizer report, another exception type, a leak) is a bug. A file that parses
// is also written back with GgufWriter and parsed again, which must succeed with the same content:
// the writer promises never to produce a file the reader refuses.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "core/error.h"
#include "io/gguf_reader.h"
#include "io/gguf_writer.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_gguf: round trip broke: %s\n", what);
    std::abort();
  }
}

void round_trip(const ponder::GgufFile& file) {
  ponder::GgufWriter writer;
  writer.set_all(file.metadata);
  for (const ponder::TensorInfo& t : file.tensors) {
    writer.add_tensor_view(t.name, t.dtype, t.shape, std::span<const uint8_t>(t.data, t.n_bytes));
  }
  const std::vector<uint8_t> bytes = writer.to_bytes();
  const ponder::GgufFile again = ponder::parse_gguf(bytes, "round trip");
  check(again.alignment == file.alignment, "alignment");
  check(again.metadata.size() == file.metadata.size(), "metadata size");
  for (size_t i = 0; i < file.metadata.size(); ++i) {
    const auto& [key, value] = file.metadata.entries()[i];
    check(again.metadata.entries()[i].first == key, "key");
    check(ponder::gguf_value_to_string(again.metadata.entries()[i].second, 1000) ==
              ponder::gguf_value_to_string(value, 1000),
          "value");
  }
  check(again.tensors.size() == file.tensors.size(), "tensor count");
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const auto& a = file.tensors[i];
    const auto& b = again.tensors[i];
    check(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.n_bytes == b.n_bytes, "tensor info");
    check(std::memcmp(a.data, b.data, a.n_bytes) == 0, "tensor bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ponder::GgufFile file;
  try {
    file = ponder::parse_gguf(std::span<const uint8_t>(data, size), "fuzz.gguf");
  } catch (const ponder::Error&) {
    return 0;
  }
  // Touch the first and last byte of every tensor so that ASan sees any range outside the input.
  volatile uint8_t sink = 0;
  for (const auto& t : file.tensors) sink = sink ^ t.data[0] ^ t.data[t.n_bytes - 1];
  for (const auto& [key, value] : file.metadata.entries()) (void)ponder::gguf_value_to_string(value);
  round_trip(file);
  return 0;
}
