#pragma once

#include "echo/common/asio.hpp"
#include "echo/common/warning_throttle.hpp"
#include "echo/server/metrics/server_stats.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/logger.h>

#include <prometheus/collectable.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace echo {

// GET /metrics, /healthz and /readyz over HTTP/1.1 (Boost.Beast), on the
// server's own io_context. It is given what it answers with when it is made:
// the collectables rendered at each scrape (/metrics) and the flag that says
// whether the server is ready for traffic (/readyz); both must outlive it. Everything here runs on one strand: scrapes
// are rare, and one strand makes the connection set safe with --threads N. Bounded for hostile clients: at most
// `max_connections` at once (more are closed at once and counted), `request_timeout` to send a complete request,
// `max_header_bytes` of request line and headers (431 past it).
class metrics_http : public std::enable_shared_from_this<metrics_http> {
public:
  static constexpr std::size_t max_connections = 64;
  static constexpr std::chrono::seconds request_timeout{10};
  static constexpr std::size_t max_header_bytes = 8192;

  metrics_http(asio::io_context& io, asio::ip::tcp::acceptor acceptor,
               std::vector<const prometheus::Collectable*> collectables, const std::atomic<bool>& ready,
               server_stats& stats, spdlog::logger& log);

  asio::ip::tcp::endpoint local_endpoint() const { return endpoint_; }

  // Starts accepting. The object keeps itself alive while anything of it runs.
  void start();
  // Stops accepting and closes every connection; callable from any thread.
  void close();

private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::ip::tcp::socket socket);

  asio::strand<asio::io_context::executor_type> strand_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::endpoint endpoint_;
  asio::steady_timer retry_timer_;
  const std::vector<const prometheus::Collectable*> collectables_;
  const std::atomic<bool>& ready_;
  server_stats& stats_;
  spdlog::logger& log_;
  warning_throttle reject_warnings_;
  std::set<asio::ip::tcp::socket*> connections_; // on the strand only, as is the count
  std::size_t open_connections_ = 0;
  bool closed_ = false;
};

} // namespace echo
