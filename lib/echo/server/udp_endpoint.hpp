#pragma once

#include "echo/server/loop_damper.hpp"
#include "echo/server/port_filter.hpp"
#include "echo/server/rate_limiter.hpp"
#include "echo/server/server_stats.hpp"
#include "echo/server/warning_throttle.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/udp.hpp>
#include <spdlog/logger.h>

#include <span>

namespace echo {

struct udp_settings {
  std::size_t max_datagram = 65507;
  port_filter blocked_source_ports;
  std::uint32_t rate_limit = 0; // datagrams per second per source address; 0 = off
};

// UDP echo (RFC 862): each datagram goes back to its sender as one datagram,
// unchanged, the empty one included. Dropped and counted instead: datagrams
// larger than max_datagram or truncated on arrival, datagrams from a blocked
// source port (loop and reflection guard), and a source's excess over its
// rate limit. One coroutine owns the socket and its receive buffer.
class udp_endpoint {
public:
  udp_endpoint(boost::asio::ip::udp::socket socket, udp_settings settings, server_stats& stats, spdlog::logger& log);

  boost::asio::ip::udp::endpoint local_endpoint() const;
  boost::asio::awaitable<void> run();
  // Call on the executor run() uses.
  void close();

private:
  enum class outcome { echoed, dropped, send_would_block };
  // Checks one received datagram and echoes it if it passes.
  outcome echo(std::span<const std::byte> datagram, std::size_t real_size,
               const boost::asio::ip::udp::endpoint& sender);
  void count_sent(std::size_t bytes);
  void drop(server_stats::counter& counter, const char* why, std::size_t size,
            const boost::asio::ip::udp::endpoint& sender);

  boost::asio::ip::udp::socket socket_;
  std::uint16_t own_port_; // datagrams from it are never answered
  udp_settings settings_;
  loop_damper damper_;
  rate_limiter limiter_;
  server_stats& stats_;
  spdlog::logger& log_;
  warning_throttle drop_warning_;
};

} // namespace echo
