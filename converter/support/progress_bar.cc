// progress_bar.cc - see progress_bar.h.
#include "converter/support/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace npuconv {

ProgressBar::ProgressBar(bool on, size_t total, std::string label, std::string unit)
    : on_(on && ::isatty(STDERR_FILENO)), total_(total), label_(std::move(label)), unit_(std::move(unit)) {}

ProgressBar::~ProgressBar() {
  if (shown_) std::fprintf(stderr, "\n");
}

void ProgressBar::update(size_t done) {
  if (!on_) return;
  auto now = Clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(100) && done != total_) return;
  last_ = now;
  shown_ = true;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  if (total_ > 0) {
    constexpr int kWidth = 30;
    int filled = static_cast<int>(kWidth * std::min<double>(1.0, static_cast<double>(done) / static_cast<double>(total_)));
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, ' ');
    double eta = rate > 0 ? static_cast<double>(total_ - std::min(done, total_)) / rate : 0;
    std::fprintf(stderr, "\r%s [%s] %zu/%zu %s, %.1f/s, ETA %.0f s   ", label_.c_str(), bar.c_str(), done, total_,
                 unit_.c_str(), rate, eta);
  } else {
    std::fprintf(stderr, "\r%s: %zu %s, %.1f/s   ", label_.c_str(), done, unit_.c_str(), rate);
  }
  std::fflush(stderr);
}

}  // namespace npuconv
