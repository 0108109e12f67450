#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace echo {

// Lets one warning of a kind through per interval, so a flood of rejected
// connections or dropped datagrams costs a log line a second, not one each.
// Safe to call from any thread.
class warning_throttle {
public:
  using clock = std::chrono::steady_clock;

  explicit warning_throttle(clock::duration interval = std::chrono::seconds(1)) noexcept
      : interval_(interval.count()) {}

  bool allow(clock::time_point now = clock::now()) noexcept {
    const auto ticks = now.time_since_epoch().count();
    auto next = next_allowed_.load(std::memory_order_relaxed);
    while (ticks >= next) {
      if (next_allowed_.compare_exchange_weak(next, ticks + interval_, std::memory_order_relaxed)) return true;
    }
    return false;
  }

private:
  clock::rep interval_;
  std::atomic<clock::rep> next_allowed_{std::numeric_limits<clock::rep>::min()};
};

} // namespace echo
