#pragma once

#include "echo/common/warning_throttle.hpp"
#include "echo/server/admission/tcp_admission.hpp"
#include "echo/server/metrics/server_stats.hpp"
#include "echo/server/server_config.hpp"
#include "echo/server/systemd.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace echo {

class metrics_http;
class process_collector;
class server_collector;
class session_registry;
class tcp_listener;
class tls_contexts;
class udp_endpoint;

// The echo service on one io_context: a TCP listener with its sessions, a
// UDP endpoint, the idle sweep, the stats timer and graceful stop. Signals
// are the caller's (see serve()), so tests can run servers in-process.
class echo_server {
public:
  echo_server(boost::asio::io_context& io, server_config config, std::shared_ptr<spdlog::logger> log);
  echo_server(const echo_server&) = delete;
  echo_server& operator=(const echo_server&) = delete;
  ~echo_server();

  // Binds every endpoint (or takes over the sockets systemd passed, when
  // `inherited` holds any) and starts serving; logs one `listening` line per
  // endpoint. Throws std::system_error naming the address on failure.
  void start(const std::vector<inherited_socket>& inherited = {});

  // Graceful stop, callable from any thread: stop accepting, close UDP, let
  // open sessions finish within the shutdown timeout, then close the rest
  // and log a summary. io_context::run() returns when all is done.
  void stop();

  // SIGHUP: loads the TLS certificate and key again for new sessions; a
  // reload that fails keeps the current ones (and logs an error naming the
  // file). Callable from any thread; without TLS it only logs.
  void reload_tls();

  // Called on the control executor once a stop has completed (each handler
  // given, in order).
  void on_finished(std::function<void()> handler) { on_finished_.push_back(std::move(handler)); }

  std::optional<boost::asio::ip::tcp::endpoint> tcp_endpoint() const { return tcp_endpoint_; }
  std::optional<boost::asio::ip::udp::endpoint> udp_endpoint() const { return udp_endpoint_; }
  std::optional<boost::asio::ip::tcp::endpoint> tls_endpoint() const { return tls_endpoint_; }
  std::optional<boost::asio::ip::tcp::endpoint> metrics_endpoint() const { return metrics_endpoint_; }
  // True from start() until a graceful stop begins: what /readyz says.
  bool ready() const noexcept { return ready_.load(std::memory_order_relaxed); }
  const server_stats& stats() const noexcept { return stats_; }

private:
  void begin_shutdown();
  void on_session_end();
  void finish();
  void schedule_idle_sweep();
  void return_freed_memory();
  void trim_when_quiet(std::uint64_t closed_before, int waits);
  void schedule_stats();
  void start_metrics(boost::asio::ip::tcp::acceptor acceptor);
  void start_listener(boost::asio::ip::tcp::acceptor acceptor, const char* kind, const std::string& origin,
                      std::shared_ptr<tls_contexts> tls);

  boost::asio::io_context& io_;
  server_config config_;
  std::shared_ptr<spdlog::logger> log_;
  // Listener, UDP endpoint, timers and shutdown all run here, one at a time.
  boost::asio::any_io_executor control_;
  server_stats stats_;
  // Shared with the sessions: their frames may outlive the server when an
  // io_context is torn down without a graceful stop.
  std::shared_ptr<session_registry> registry_;
  tcp_admission admission_; // every TCP listener's: the limits are the server's
  std::vector<std::unique_ptr<tcp_listener>> listeners_;
  std::vector<std::unique_ptr<class udp_endpoint>> udp_endpoints_;
  std::optional<boost::asio::ip::tcp::endpoint> tcp_endpoint_;
  std::optional<boost::asio::ip::udp::endpoint> udp_endpoint_;
  std::optional<boost::asio::ip::tcp::endpoint> tls_endpoint_;
  std::shared_ptr<tls_contexts> tls_; // set while a TLS listener serves
  std::unique_ptr<server_collector> server_metrics_;
  std::unique_ptr<process_collector> process_metrics_;
  std::shared_ptr<metrics_http> metrics_; // shared with its connections, which may outlive us
  std::optional<boost::asio::ip::tcp::endpoint> metrics_endpoint_;
  std::atomic<bool> ready_{false};
  warning_throttle proxy_warnings_; // rejected PROXY protocol headers: a warning a second at most
  warning_throttle tls_warnings_;   // failed TLS handshakes: likewise
  boost::asio::steady_timer idle_sweep_timer_;
  boost::asio::steady_timer stats_timer_;
  boost::asio::steady_timer shutdown_timer_;
  boost::asio::steady_timer trim_timer_; // return_freed_memory(): one trim after a mass close
  std::vector<std::function<void()>> on_finished_;
  std::uint64_t sessions_peak_ = 0; // most sessions open at once since the heap was last trimmed
  bool trim_pending_ = false;
  bool stopping_ = false;
  bool finished_ = false;
};

} // namespace echo
