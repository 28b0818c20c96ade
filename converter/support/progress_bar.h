// progress_bar.h - one progress line on stderr for long steps (calibration, the mixed-precision
// search): a bar, done/total with the unit, the rate and the time left. Shown only when stderr
// is a terminal, so logs and CI output stay clean; redrawn at most every 100 ms.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace npuconv {

class ProgressBar {
 public:
  /// `label` leads the line ("calibrating"), `unit` follows the counts ("samples").
  ProgressBar(bool on, size_t total, std::string label, std::string unit);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void update(size_t done);
  /// A new total (a search whose remaining steps become known as it goes).
  void setTotal(size_t total) { total_ = total; }

 private:
  using Clock = std::chrono::steady_clock;
  bool on_;
  size_t total_;
  std::string label_, unit_;
  bool shown_ = false;
  Clock::time_point start_ = Clock::now(), last_ = start_;
};

}  // namespace npuconv
