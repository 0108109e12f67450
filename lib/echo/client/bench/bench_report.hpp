#pragma once

#include "echo/client/bench/latency_histogram.hpp"
#include "echo/client/config/client_config.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace echo {

// Wall-clock time (UTC) to the millisecond: when a run started and ended.
using wall_time = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;
struct time_window {
  wall_time from;
  wall_time to;
  bool operator==(const time_window&) const = default;
};

// What a load generator run measured.
struct bench_report {
  transport protocol = transport::tcp;
  bool tls = false;         // TCP over TLS
  bool churn = false;       // --churn: a new connection per request
  double setup_seconds = 0; // opening every connection (connect, PROXY header, TLS handshake), one after another
  std::size_t connections = 0;
  std::size_t size = 0;
  std::size_t pipeline = 0;
  double seconds = 0;
  std::uint64_t requests = 0; // echoes received whole and verified
  std::uint64_t bytes = 0;    // echoed bytes received
  std::uint64_t errors = 0;   // connections that failed
  std::uint64_t mismatches = 0;
  // How latency was measured. Closed loop (no --rate): each connection sends
  // when its pipeline has room, and `latency` is service time, from each
  // actual send. Open loop (--rate): each connection follows a schedule
  // (send_schedule), `latency` runs from each message's due time (corrected
  // for coordinated omission) and `uncorrected` from its actual send.
  // Unknown: a report that does not say, as a merge of reports.
  enum class load_model { unknown, closed_loop, open_loop };
  load_model model = load_model::unknown;
  double rate = 0;                    // open loop: --rate, messages a second over all connections
  std::uint64_t late = 0;             // open loop: sent more than send_schedule::tolerance after due
  std::uint64_t skipped = 0;          // open loop: due but never sent, the connection being behind
  std::uint64_t skipped_recorded = 0; // of those, in `latency` (the send that took their place was echoed)
  latency_histogram uncorrected;      // open loop: nanoseconds from the actual send (service time)
  std::uint64_t lost = 0;             // UDP: no reply within the timeout
  std::size_t connections_echoed = 0; // connections with at least one verified echo
  latency_histogram latency;          // nanoseconds
  // Who ran, and when (wall clock): one generator for a run, their number
  // for a merge. `window` spans them all; `together` is when all of them
  // were running at once (none: they were not). No window: a report from
  // an echo-client that did not say when it ran.
  std::uint64_t generators = 1;
  std::optional<time_window> window;
  std::optional<time_window> together;
  // A random id for each run pooled here, so that no merge counts one run
  // twice (a report merged again with a merge that holds it). Reports from
  // before run ids have none.
  std::vector<std::string> runs;

  double requests_per_second() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
  double megabytes_per_second() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0; }
};

// The report for people (several lines) and for programs (one JSON object).
std::string format_text(const bench_report& report);
std::string format_json(const bench_report& report);

// "850.3us", "12.4ms": a latency as people read it.
std::string latency_text(std::uint64_t nanoseconds);

// "2024-05-01T12:30:05.250Z" (ISO 8601, UTC, milliseconds), and back:
// exactly that form, years 1970 to 9999; nothing for anything else.
std::string wall_time_text(wall_time when);
std::optional<wall_time> parse_wall_time(std::string_view text);

// Stamps a finished run with when it ran (it started at `start` on the
// steady clock and lasted report.seconds) and a new run id.
void stamp_wall_clock(bench_report& report, std::chrono::steady_clock::time_point start);

// Writes `content` to `path` whole or not at all: into a new file in the
// same directory, flushed to disk, then renamed over `path`. Throws
// std::runtime_error naming the file and the cause.
void write_report_file(const std::string& path, std::string_view content);

} // namespace echo
