#pragma once

#include "echo/server_stats.hpp"
#include "echo/session_registry.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <spdlog/logger.h>

namespace echo {

// What every TCP session of a server shares.
struct session_context {
  server_stats& stats;
  spdlog::logger& log;
  session_registry& registry;
};

// One TCP echo session (RFC 862): everything read is written back, in
// order, until the peer closes; a half-close is answered by sending what is
// owed, then closing. The coroutine owns the socket. While idle it holds no
// buffer; while the peer does not read, it stops reading (backpressure), so
// it never holds more than one buffer_pool buffer.
boost::asio::awaitable<void> tcp_session(boost::asio::ip::tcp::socket socket,
                                         const session_context& context);

} // namespace echo
