// tokenize_corpus MODEL CORPUS STEP OUT: encodes every STEP-th entry of a tokenizer corpus
// (tests/golden/tokenizer/corpus.txt: one entry per line, escapes \\ \n \r \xHH) with the model's
// own vocabulary and writes "index<TAB>ids" lines to OUT, for comparison with another engine.
#include <fmt/core.h>
#include <fmt/format.h>

#include <fstream>
#include <string>

#include "io/tensor_store.h"
#include "text/tokenizer.h"

namespace {

std::string unescape(const std::string& line) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\' || i + 1 == line.size()) {
      out += line[i];
      continue;
    }
    const char c = line[++i];
    if (c == 'n') out += '\n';
    else if (c == 'r') out += '\r';
    else if (c == 'x' && i + 2 < line.size()) {
      out += static_cast<char>(std::stoi(line.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else out += c;
  }
  return out;
}

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
      out << index << '\t' << fmt::format("{}", fmt::join(tokenizer.encode(unescape(line)), " ")) << '\n';
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "tokenize_corpus: {}\n", e.what());
    return 1;
  }
  return 0;
}
