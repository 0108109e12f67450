#pragma once

#include "echo/client/bench/bench_report.hpp"
#include "echo/client/bench/send_schedule.hpp"
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
  clock::time_point stopped_sending{}; // set when `sending` turns false
  clock::time_point last_completion{};
  bool sending = true;
  std::size_t running = 0; // coroutines of all connections still running
  bench_report report;

  bench_run(const client_config& c, const bench_config& b);

  const std::byte* message(std::uint64_t k) const { return pattern.data() + k % pattern_shift; }

  // With --rate, the time between two sends of one connection: the
  // connections follow their schedules (send_schedule), and latency is
  // measured from when each message was due, so a stalled server cannot
  // hide the sends it held up (no coordinated omission). Zero without.
  clock::duration interval() const { return interval_; }
  bool paced() const { return interval_ != clock::duration::zero(); }
  // A connection's schedule: slot k due at start + k * interval(), the
  // same slots for every connection.
  send_schedule schedule() const { return send_schedule(start, interval_); }

  // When a message went out. Closed loop: `due` is `sent`. With --rate:
  // when its slot was due, and how many slots before it were skipped.
  struct send_times {
    clock::time_point due{};
    clock::time_point sent{};
    std::uint64_t skipped = 0;
  };

  // The echo of a message came back whole and matching at `now`. Its
  // latency goes into report.latency from its due time and, with --rate,
  // into report.uncorrected from its actual send; each slot it took the
  // place of goes into report.latency from that slot's own due time.
  void completed(const send_times& message, clock::time_point now) {
    const auto latency = nanoseconds(now - message.due);
    report.latency.record(latency);
    if (paced()) {
      report.uncorrected.record(nanoseconds(now - message.sent));
      if (message.skipped > 0) {
        const auto step = nanoseconds(interval_);
        report.latency.record_series(latency + step, step, message.skipped);
        report.skipped_recorded += message.skipped;
      }
    }
    ++report.requests;
    last_completion = now;
  }
  void completed(clock::time_point sent, clock::time_point now) { completed(send_times{sent, sent, 0}, now); }

private:
  static std::uint64_t nanoseconds(clock::duration d) {
    return static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
  }

  clock::duration interval_;
};

} // namespace echo
