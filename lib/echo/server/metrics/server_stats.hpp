#pragma once

#include "echo/server/metrics/duration_histogram.hpp"

#include <atomic>
#include <cstdint>
#include <string>

namespace echo {

// Counters shared by every part of the server. Relaxed atomics: each is an
// independent tally, read for logs and the shutdown summary.
struct server_stats {
  using counter = std::atomic<std::uint64_t>;

  counter sessions_opened{0};
  counter sessions_closed{0};
  counter sessions_rejected{0};            // over --max-connections
  counter sessions_rejected_per_source{0}; // over --max-connections-per-source
  counter sessions_rejected_proxy{0};      // --proxy-protocol: no valid header within 5 s
  counter sessions_rejected_untrusted{0};  // --proxy-trusted: from an address not in the list
  counter sessions_idle_closed{0};
  counter sessions_failed{0}; // ended by an unexpected error
  counter accept_errors{0};
  counter tls_handshakes{0};         // TLS sessions whose handshake completed
  counter tls_handshake_failures{0}; // failed, or not done within its bound
  counter tcp_bytes_in{0};
  counter tcp_bytes_out{0};

  counter datagrams_in{0};
  counter datagrams_out{0};
  counter udp_bytes_in{0};
  counter udp_bytes_out{0};
  counter dropped_blocked_port{0};
  counter dropped_too_large{0}; // over --max-datagram, or truncated on arrival
  counter dropped_loop{0};      // a peer reflecting our echoes back at once (echo loop damping)
  counter dropped_rate_limited{0};
  counter dropped_send_failed{0};
  counter udp_send_waits{0}; // echoes that found the send buffer full and waited for room

  duration_histogram session_durations; // TCP sessions, recorded as each ends

  counter metrics_requests{0};             // HTTP requests answered on --metrics
  counter metrics_connections_rejected{0}; // over the metrics endpoint's connection limit

  std::uint64_t sessions_open() const noexcept {
    return sessions_opened.load(std::memory_order_relaxed) - sessions_closed.load(std::memory_order_relaxed);
  }
};

inline void add(server_stats::counter& c, std::uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }

// "sessions_open=1 sessions_opened=3 … dropped_rate_limited=0"
std::string describe(const server_stats& stats);

} // namespace echo
