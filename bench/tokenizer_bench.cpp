// Single-thread encode throughput of Ponder's tokenizer on the golden corpus
// (tests/golden/tokenizer/corpus.txt). Built and run by bench/tokenizer_bench.py, which times
// Hugging Face tokenizers on the same entries and prints the ratio.
//
// Usage: tokenizer_bench VOCAB.gguf CORPUS.txt [repeats]
// Prints one line: "ponder entries=N bytes=B ids=I seconds=S MB/s=X" (best of `repeats` passes).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/tensor_store.h"
#include "text/tokenizer.h"
#include "../tests/golden/tokenizer/corpus_line.h"

namespace {

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s VOCAB.gguf CORPUS.txt [repeats]\n", argv[0]);
    return 2;
  }
  try {
    ponder::TensorStore store = ponder::TensorStore::open(argv[1]);
    ponder::Tokenizer tok = ponder::Tokenizer::from_gguf(store.gguf());
    std::vector<std::string> entries;
    std::ifstream in(argv[2], std::ios::binary);
    size_t n_bytes = 0;
    for (std::string line; std::getline(in, line);) {
      entries.push_back(ponder::corpus::decode_line(line));
      n_bytes += entries.back().size();
    }
    const int repeats = argc > 3 ? std::stoi(argv[3]) : 5;
    double best = 1e9;
    size_t n_ids = 0;
    std::vector<int32_t> ids;
    for (int r = 0; r < repeats; ++r) {
      n_ids = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (const std::string& e : entries) {
        ids.clear();
        tok.encode(e, false, ids);
        n_ids += ids.size();
      }
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("ponder entries=%zu bytes=%zu ids=%zu seconds=%.4f MB/s=%.2f\n", entries.size(), n_bytes, n_ids, best,
                n_bytes / best / 1e6);
  } catch (const ponder::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
