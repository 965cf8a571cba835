// tokenize_corpus MODEL CORPUS STEP OUT: encodes every STEP-th entry of a tokenizer corpus
// (tests/golden/tokenizer/corpus.txt: one entry per line, escapes \\ \n \r \xHH) with the model's
// own vocabulary and writes "index<TAB>ids" lines to OUT, for comparison with another engine.
#include <fmt/core.h>
#include <fmt/format.h>

#include <fstream>
#include <string>

#include "io/tensor_store.h"
#include "text/tokenizer.h"
#include "../golden/tokenizer/corpus_line.h"

namespace {

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    fmt::print(stderr, "usage: tokenize_corpus MODEL CORPUS STEP OUT\n");
    return 2;
  }
  try {
    const ponder::TensorStore store = ponder::TensorStore::open(argv[1]);
    const ponder::Tokenizer tokenizer = ponder::Tokenizer::from_gguf(store.gguf());
    std::ifstream corpus(argv[2]);
    std::ofstream out(argv[4]);
    const int step = std::stoi(argv[3]);
    std::string line;
    for (int index = 0; std::getline(corpus, line); ++index) {
      if (index % step != 0) continue;
      out << index << '\t' << fmt::format("{}", fmt::join(tokenizer.encode(ponder::corpus::decode_line(line)), " ")) << '\n';
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "tokenize_corpus: {}\n", e.what());
    return 1;
  }
  return 0;
}
