// Decodes one entry of corpus.txt (one entry per line; escapes \\ \n \r, and \xHH for each byte of
// invalid UTF-8) into the bytes it stands for. Shared by the tokenizer tests, the model tests and
// the tokenizer benchmark.
#pragma once

#include <string>

namespace ponder::corpus {

inline std::string decode_line(const std::string& line) {
  std::string out;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\' || i + 1 == line.size()) {
      out.push_back(line[i]);
      continue;
    }
    const char c = line[++i];
    if (c == 'n') out.push_back('\n');
    else if (c == 'r') out.push_back('\r');
    else if (c == 'x' && i + 2 < line.size()) {
      out.push_back(static_cast<char>(std::stoi(line.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else out.push_back(c);
  }
  return out;
}

}  // namespace ponder::corpus
