#pragma once

#include "echo/common/asio.hpp"
#include "echo/common/warning_throttle.hpp"
#include "echo/server/metrics/scrape_cache.hpp"
#include "echo/server/metrics/server_stats.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/logger.h>

#include <prometheus/collectable.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace echo {

// GET /metrics, /healthz and /readyz over HTTP/1.1 (Boost.Beast), on the
// server's own io_context. It is given what it answers with when it is made:
// the collectables rendered at each scrape (/metrics) and the flag that says
// whether the server is ready for traffic (/readyz); both must outlive it.
// Everything here runs on one strand: scrapes are rare, and one strand makes
// the connection set safe with --threads N.
//
// Its clients must never disturb echo, nor keep a probe from its answer
// (docs/metrics.md, "Bounds"):
// - at most `max_connections` at once; the next one makes room by closing
//   the connection that has waited longest on its peer (for a request, or
//   for an answer to be taken), so /healthz and /readyz are answered
//   whatever the others do;
// - `request_timeout` to send a complete request, `max_header_bytes` of
//   request line and headers (431 past it);
// - requests on one connection are read `request_spacing` apart at the
//   closest, and at most `max_requests_per_connection` of them;
// - a request is read only once the previous answer is written, and an
//   answer not taken within `write_timeout` ends the connection with a
//   reset (its queues are freed at once);
// - /metrics is rendered afresh at most scrape_cache::fresh_per_second
//   times a second; past that, scrapes get the last render.
// The kernel buffers of metrics connections (`send_buffer_bytes`,
// `receive_buffer_bytes`) are set on the acceptor by open_metrics_acceptor().
class metrics_http : public std::enable_shared_from_this<metrics_http> {
public:
  static constexpr std::size_t max_connections = 64;
  static constexpr std::chrono::seconds request_timeout{10};
  static constexpr std::chrono::seconds write_timeout{5};
  static constexpr std::chrono::milliseconds request_spacing{100};
  static constexpr unsigned max_requests_per_connection = 100;
  static constexpr std::size_t max_header_bytes = 8192;
  // SO_SNDBUF and SO_RCVBUF; the kernel doubles both. A scrape (about 10
  // KiB) fits in the send buffer at once; a client that never reads ties up
  // at most about 2 x (32 + 16) KiB, plus a segment (docs/security.md).
  static constexpr std::size_t send_buffer_bytes = 32 * 1024;
  static constexpr std::size_t receive_buffer_bytes = 16 * 1024;

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
  // Closes the connection that has waited longest; false if none is registered yet.
  bool evict_longest_waiting();
  // Marks `socket`'s connection as waiting on its peer from now on.
  void waiting(asio::ip::tcp::socket* socket);

  asio::strand<asio::io_context::executor_type> strand_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::endpoint endpoint_;
  asio::steady_timer retry_timer_;
  const std::vector<const prometheus::Collectable*> collectables_;
  const std::atomic<bool>& ready_;
  server_stats& stats_;
  spdlog::logger& log_;
  warning_throttle reject_warnings_;
  scrape_cache scrapes_;
  // On the strand only, as is the count: each open connection, and when it
  // started waiting on its peer (a sequence number: smaller is longer ago).
  std::map<asio::ip::tcp::socket*, std::uint64_t> connections_;
  std::uint64_t waits_ = 0;
  std::size_t open_connections_ = 0;
  bool closed_ = false;
};

} // namespace echo
