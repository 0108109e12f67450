#pragma once

#include "echo/client/bench/bench_report.hpp"
#include "echo/client/config/client_config.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace echo {

// The state of one load generator run that its connections share: the
// settings, the message pattern, the schedule and the report.
struct bench_run {
  using clock = std::chrono::steady_clock;

  // Message k carries pattern[k % pattern_shift ...]: consecutive messages
  // differ, so a byte echoed out of place is caught, and checking one is a
  // memcmp against memory that never changes.
  static constexpr std::size_t pattern_shift = 251;

  const client_config& config;
  const bench_config& bench;
  std::vector<std::byte> pattern;
  clock::time_point start{};
  clock::time_point last_completion{};
  bool sending = true;
  std::size_t running = 0; // coroutines of all connections still running
  bench_report report;

  bench_run(const client_config& c, const bench_config& b);

  const std::byte* message(std::uint64_t k) const { return pattern.data() + k % pattern_shift; }

  // With --rate, message k of a connection is due at start + k * interval;
  // latency is then measured from when it was due, so a stalled server is
  // not flattered by the sends it delayed (no coordinated omission).
  // Zero without --rate.
  clock::duration interval() const;

  void completed(clock::time_point sent, clock::time_point now) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - sent).count();
    report.latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, ns)));
    ++report.requests;
    last_completion = now;
  }
};

} // namespace echo
