#pragma once

#include "echo/port_filter.hpp"
#include "echo/rate_limiter.hpp"
#include "echo/server_stats.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/udp.hpp>
#include <spdlog/logger.h>

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
  udp_endpoint(boost::asio::ip::udp::socket socket, udp_settings settings, server_stats& stats,
               spdlog::logger& log);

  boost::asio::ip::udp::endpoint local_endpoint() const;
  boost::asio::awaitable<void> run();
  // Call on the executor run() uses.
  void close();

private:
  boost::asio::ip::udp::socket socket_;
  udp_settings settings_;
  rate_limiter limiter_;
  server_stats& stats_;
  spdlog::logger& log_;
};

} // namespace echo
