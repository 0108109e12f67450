#pragma once

#include "echo/common/warning_throttle.hpp"
#include "echo/server/metrics/server_stats.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <spdlog/logger.h>

#include <chrono>
#include <memory>

namespace echo {

class session_registry;
class tls_contexts;

// What every TCP session of a listener shares, built once before its first
// accept and never changed after (the listener holds it const). Sessions
// take it by value: a coroutine must not keep a reference parameter (its
// caller's object may be gone by the first resumption).
struct session_context {
  server_stats& stats;
  spdlog::logger& log;
  std::shared_ptr<session_registry> registry;
  bool proxy_protocol = false;                // a PROXY protocol header comes first
  warning_throttle* proxy_warnings = nullptr; // with proxy_protocol: for rejected headers
  // TLS listeners only: where a session's context comes from, the throttle
  // for failed handshakes, and the bound on a handshake and on sending
  // close_notify (min(idle timeout, 10 s)).
  std::shared_ptr<tls_contexts> tls{};
  warning_throttle* tls_warnings = nullptr;
  std::chrono::milliseconds tls_phase_limit{10'000};
  // The listener has TCP_NODELAY, so accepted sockets have it too (see
  // sockets/listener_options.hpp, where every listener option is set).
  bool no_delay_inherited = false;
};

// One TCP echo session (RFC 862): everything read is written back, in
// order, until the peer closes; a half-close is answered by sending what is
// owed, then closing. The coroutine owns the socket. While idle it holds no
// buffer; while the peer does not read, it stops reading (backpressure), so
// it never holds more than one buffer_pool buffer. See plain_session.cpp.
boost::asio::awaitable<void> tcp_session(boost::asio::ip::tcp::socket socket, boost::asio::ip::tcp::endpoint peer,
                                         session_context context);

// The same over TLS: (PROXY header,) handshake within tls_phase_limit, then
// echo as above; close_notify is the half-close, answered with ours once
// everything is written back. Shares the plain session's start, its
// write-back with backpressure and its end; only the reads differ (see
// tls_session.cpp). The context stays the one the session started with, whatever a
// reload does meanwhile.
boost::asio::awaitable<void> tls_session(boost::asio::ip::tcp::socket socket, boost::asio::ip::tcp::endpoint peer,
                                         session_context context);

} // namespace echo
