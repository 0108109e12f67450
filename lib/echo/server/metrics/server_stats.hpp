#pragma once

#include "echo/server/metrics/duration_histogram.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace echo {

// Every counter of the server, declared once. A row names the counter (its
// name in the stats line and in code), the Prometheus family it is exported
// as (a counter family; rows that share a family are its samples, told
// apart by the `reason` label) and the family's help text. The stats line,
// the logs' "so far" summaries and /metrics are all generated from here.
struct counter_spec {
  std::string_view name;
  std::string_view family; // echo_..._total
  std::string_view reason; // the `reason` label's value; "" for a family of one sample
  std::string_view help;   // the family's HELP (the first row of a family gives it)
  bool in_stats_line = true;
};

inline constexpr std::array counter_table{
    // TCP sessions, accepted and rejected.
    counter_spec{"sessions_opened", "echo_tcp_connections_total", "",
                 "TCP echo sessions accepted (not counting those rejected)."},
    counter_spec{"sessions_closed", "", "", ""}, // exported as echo_tcp_connections_active (open = opened - closed)
    counter_spec{"sessions_rejected", "echo_tcp_connections_rejected_total", "max_connections",
                 "TCP connections closed at once instead of served, by reason."},
    counter_spec{"sessions_rejected_per_source", "echo_tcp_connections_rejected_total", "max_connections_per_source",
                 ""},
    counter_spec{"sessions_rejected_proxy", "echo_tcp_connections_rejected_total", "proxy_protocol", ""},
    counter_spec{"sessions_rejected_untrusted", "echo_tcp_connections_rejected_total", "untrusted", ""},
    counter_spec{"sessions_idle_closed", "echo_tcp_idle_timeouts_total", "", "TCP sessions closed by --idle-timeout."},
    counter_spec{"sessions_failed", "echo_tcp_session_errors_total", "",
                 "TCP sessions ended by an unexpected error (not a close or reset by the peer)."},
    counter_spec{"accept_errors", "echo_accept_errors_total", "",
                 "Failed accepts on the echo listeners, TCP and TLS (EMFILE, ENFILE, ...)."},
    counter_spec{"tls_handshakes", "echo_tls_handshakes_total", "",
                 "TLS handshakes completed (each one a TLS echo session)."},
    counter_spec{"tls_handshake_failures", "echo_tls_handshake_failures_total", "",
                 "TLS handshakes that failed, or were not complete within min(--idle-timeout, 10s)."},
    counter_spec{"tcp_bytes_in", "echo_tcp_received_bytes_total", "", "Bytes read from TCP clients."},
    counter_spec{"tcp_bytes_out", "echo_tcp_sent_bytes_total", "", "Bytes echoed to TCP clients."},
    // UDP.
    counter_spec{"datagrams_in", "echo_udp_received_datagrams_total", "",
                 "UDP datagrams received, dropped ones included."},
    counter_spec{"datagrams_out", "echo_udp_sent_datagrams_total", "", "UDP datagrams echoed."},
    counter_spec{"udp_bytes_in", "echo_udp_received_bytes_total", "",
                 "Bytes of UDP datagrams received, dropped ones included."},
    counter_spec{"udp_bytes_out", "echo_udp_sent_bytes_total", "", "Bytes of UDP datagrams echoed."},
    counter_spec{"dropped_blocked_port", "echo_udp_dropped_datagrams_total", "blocked_port",
                 "UDP datagrams not echoed, by reason."},
    counter_spec{"dropped_too_large", "echo_udp_dropped_datagrams_total", "too_large", ""},
    counter_spec{"dropped_loop", "echo_udp_dropped_datagrams_total", "loop", ""},
    counter_spec{"dropped_rate_limited", "echo_udp_dropped_datagrams_total", "rate_limited", ""},
    counter_spec{"dropped_send_failed", "echo_udp_dropped_datagrams_total", "send_failed", ""},
    counter_spec{"udp_send_waits", "echo_udp_send_waits_total", "",
                 "UDP echoes that found the send buffer full and waited for room."},
    // The metrics endpoint itself.
    counter_spec{"metrics_requests", "echo_metrics_requests_total", "",
                 "HTTP requests answered by the metrics endpoint.", false},
    counter_spec{"metrics_connections_rejected", "echo_metrics_connections_rejected_total", "",
                 "Metrics connections closed at once: 64 were open and none had started yet to make room.", false},
    counter_spec{"metrics_connections_evicted", "echo_metrics_connections_evicted_total", "",
                 "Metrics connections closed to make room for a new one (64 were open): the one that had waited "
                 "longest on its peer.",
                 false},
    counter_spec{"metrics_renders", "echo_metrics_renders_total", "",
                 "Times /metrics was rendered afresh; scrapes past 10 a second get the last render.", false},
    counter_spec{"metrics_accept_errors", "echo_metrics_accept_errors_total", "",
                 "Failed accepts on the metrics listener (EMFILE, ENFILE, ...).", false},
};

// A counter, named in code as in the table: `stats.add("tcp_bytes_in", n)`.
// The name is looked up when the program is compiled (a consteval
// constructor), so a misspelt name does not build and a count costs one
// relaxed atomic add, as a struct member would.
struct counter_id {
  std::size_t index;
  template <std::size_t N>
  consteval counter_id(const char (&name)[N]) // NOLINT(google-explicit-constructor, *-avoid-c-arrays)
      : index(find(std::string_view(name, N - 1))) {}

private:
  static consteval std::size_t find(std::string_view name) {
    for (std::size_t i = 0; i < counter_table.size(); ++i)
      if (counter_table[i].name == name) return i;
    throw std::logic_error("no such counter in counter_table"); // at compile time: a build error
  }
};

// The counters shared by every part of the server: relaxed atomics, each an
// independent tally, read for logs, /metrics and the shutdown summary.
class server_stats {
public:
  void add(counter_id id, std::uint64_t n = 1) noexcept { values_[id.index].fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t get(counter_id id) const noexcept { return at(id.index); }
  // Row `index` of counter_table.
  std::uint64_t at(std::size_t index) const noexcept { return values_[index].load(std::memory_order_relaxed); }

  std::uint64_t sessions_open() const noexcept { return get("sessions_opened") - get("sessions_closed"); }

  duration_histogram session_durations; // TCP sessions, recorded as each ends

private:
  std::array<std::atomic<std::uint64_t>, counter_table.size()> values_{};
};

// The stats line: "sessions_open=1 sessions_opened=3 … udp_send_waits=0".
std::string describe(const server_stats& stats);

// One family's samples by reason, for a log line's "so far":
// "blocked_port=0 too_large=2 loop=0 rate_limited=5 send_failed=0".
std::string describe_reasons(const server_stats& stats, std::string_view family);

} // namespace echo
