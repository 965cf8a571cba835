// A one-line progress bar on stderr ("\r"-redrawn), throttled to 10 redraws a second. Shown only
// when stderr is a terminal, so logs and pipes stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ponder::app {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  void update(uint64_t done, uint64_t total);
  void finish();

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  uint64_t start_done_ = 0;
  bool started_ = false;
};

std::string human_bytes(uint64_t bytes);

}  // namespace ponder::app
