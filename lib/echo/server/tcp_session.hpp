#pragma once

#include "echo/server/server_stats.hpp"
#include "echo/server/warning_throttle.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <spdlog/logger.h>

#include <memory>

namespace echo {

class session_registry;

// What every TCP session of a server shares. Sessions take it by value: a
// coroutine must not keep a reference parameter (its caller's object may be
// gone by the first resumption).
struct session_context {
  server_stats& stats;
  spdlog::logger& log;
  std::shared_ptr<session_registry> registry;
  bool proxy_protocol = false;                // a PROXY protocol header comes first
  warning_throttle* proxy_warnings = nullptr; // with proxy_protocol: for rejected headers
};

// One TCP echo session (RFC 862): everything read is written back, in
// order, until the peer closes; a half-close is answered by sending what is
// owed, then closing. The coroutine owns the socket. While idle it holds no
// buffer; while the peer does not read, it stops reading (backpressure), so
// it never holds more than one buffer_pool buffer.
boost::asio::awaitable<void> tcp_session(boost::asio::ip::tcp::socket socket, session_context context);

} // namespace echo
