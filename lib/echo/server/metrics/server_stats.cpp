#include "echo/server/metrics/server_stats.hpp"

#include <sstream>

namespace echo {

std::string describe(const server_stats& s) {
  std::ostringstream out;
  const auto put = [&out](const char* name, const server_stats::counter& c) {
    out << ' ' << name << '=' << c.load(std::memory_order_relaxed);
  };
  out << "sessions_open=" << s.sessions_open();
  put("sessions_opened", s.sessions_opened);
  put("sessions_closed", s.sessions_closed);
  put("sessions_rejected", s.sessions_rejected);
  put("sessions_rejected_per_source", s.sessions_rejected_per_source);
  put("sessions_rejected_proxy", s.sessions_rejected_proxy);
  put("sessions_rejected_untrusted", s.sessions_rejected_untrusted);
  put("sessions_idle_closed", s.sessions_idle_closed);
  put("sessions_failed", s.sessions_failed);
  put("accept_errors", s.accept_errors);
  put("tls_handshakes", s.tls_handshakes);
  put("tls_handshake_failures", s.tls_handshake_failures);
  put("tcp_bytes_in", s.tcp_bytes_in);
  put("tcp_bytes_out", s.tcp_bytes_out);
  put("datagrams_in", s.datagrams_in);
  put("datagrams_out", s.datagrams_out);
  put("udp_bytes_in", s.udp_bytes_in);
  put("udp_bytes_out", s.udp_bytes_out);
  put("dropped_blocked_port", s.dropped_blocked_port);
  put("dropped_too_large", s.dropped_too_large);
  put("dropped_loop", s.dropped_loop);
  put("dropped_rate_limited", s.dropped_rate_limited);
  put("dropped_send_failed", s.dropped_send_failed);
  put("udp_send_waits", s.udp_send_waits);
  return out.str();
}

} // namespace echo
