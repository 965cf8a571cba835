#include "app/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace ponder::app {

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", v, units[u]);
}

ProgressBar::ProgressBar(std::string label) : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1) {}

void ProgressBar::update(uint64_t done, uint64_t total) {
  const auto now = std::chrono::steady_clock::now();
  if (!started_) {
    started_ = true;
    start_ = now;
    start_done_ = done;
  }
  if (!enabled_ || (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && done < total)) return;
  last_draw_ = now;
  drawn_ = true;
  const double fraction = total > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 0.0;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction * kWidth);
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done - start_done_) / seconds : 0.0;
  std::string eta;
  if (rate > 0 && total > done) eta = fmt::format("  ETA {:.0f}s", static_cast<double>(total - done) / rate);
  fmt::print(stderr, "\r{} {:3.0f}% [{}{}] {}/{}  {}/s{}\033[K", label_, fraction * 100, std::string(filled, '='),
             std::string(kWidth - filled, ' '), human_bytes(done), human_bytes(total),
             human_bytes(static_cast<uint64_t>(rate)), eta);
}

void ProgressBar::finish() {
  if (enabled_ && drawn_) fmt::print(stderr, "\n");
  drawn_ = false;
}

}  // namespace ponder::app
