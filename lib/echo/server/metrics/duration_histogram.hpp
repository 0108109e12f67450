#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace echo {

// How long TCP sessions lasted, in fixed buckets, for the
// echo_tcp_session_duration_seconds histogram. record() is two relaxed atomic
// adds and a short search, once per session (never per message); read() is
// for the scrape and is consistent in itself: the count is the sum of the
// buckets.
class duration_histogram {
public:
  // Upper bounds in seconds: from a probe's connect-and-close to an
  // hour-long session (the idle timeout defaults to 300 s).
  static constexpr std::array<double, 12> bounds{0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 30, 60, 300, 900, 3600};

  struct snapshot {
    std::array<std::uint64_t, bounds.size() + 1> buckets{}; // per bucket, not cumulative; the last is +Inf
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };

  void record(std::chrono::nanoseconds elapsed) noexcept {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count()),
        std::memory_order_relaxed);
  }

  snapshot read() const noexcept {
    snapshot s;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
      s.count += s.buckets[i];
    }
    s.sum_seconds = static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6;
    return s;
  }

private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_us_{0};
};

} // namespace echo
