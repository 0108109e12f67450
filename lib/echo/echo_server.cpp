#include "echo/echo_server.hpp"

#include "echo/endpoint_format.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/strand.hpp>
#include <sys/socket.h>

#include <csignal>
#include <thread>
#include <vector>

namespace echo {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;

// SO_REUSEPORT as an Asio settable socket option.
class reuse_port_option {
public:
  explicit reuse_port_option(bool on) : value_(on ? 1 : 0) {}
  template <class Protocol> int level(const Protocol&) const { return SOL_SOCKET; }
  template <class Protocol> int name(const Protocol&) const { return SO_REUSEPORT; }
  template <class Protocol> const int* data(const Protocol&) const { return &value_; }
  template <class Protocol> std::size_t size(const Protocol&) const { return sizeof(value_); }

private:
  int value_;
};

// How often idle sessions are looked for: often enough that a session is
// closed within a quarter of its timeout late, never more than once a second.
std::chrono::milliseconds idle_sweep_period(std::chrono::milliseconds idle_timeout) {
  return std::clamp(idle_timeout / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
}

[[noreturn]] void fail_bind(const char* what, const asio::ip::address& address,
                            std::uint16_t port, const error_code& ec) {
  const auto shown = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  throw std::system_error(ec, std::string("cannot ") + what + " " + shown + ":" + std::to_string(port));
}

template <class Socket>
void set_common_options(Socket& socket, const asio::ip::address& address, bool reuse_port) {
  if (address.is_v6()) socket.set_option(asio::ip::v6_only(false)); // "::" serves IPv4 too
  if (reuse_port) socket.set_option(reuse_port_option(true));
}

tcp::acceptor open_acceptor(asio::io_context& io, const asio::ip::address& address,
                            std::uint16_t port, const server_config& config) {
  tcp::acceptor acceptor(io);
  const tcp::endpoint endpoint(address, port);
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (ec) fail_bind("open TCP socket for", address, port, ec);
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  set_common_options(acceptor, address, config.reuse_port);
  acceptor.bind(endpoint, ec);
  if (ec) fail_bind("listen (TCP) on", address, port, ec);
  acceptor.listen(config.backlog, ec);
  if (ec) fail_bind("listen (TCP) on", address, port, ec);
  return acceptor;
}

udp::socket open_udp(asio::io_context& io, const asio::ip::address& address, std::uint16_t port,
                     const server_config& config, error_code& ec) {
  udp::socket socket(io);
  const udp::endpoint endpoint(address, port);
  socket.open(endpoint.protocol(), ec);
  if (ec) return socket;
  set_common_options(socket, address, config.reuse_port);
  socket.bind(endpoint, ec);
  return socket;
}

// "::" unless told otherwise; "0.0.0.0" where this machine has no IPv6.
asio::ip::address listen_address(const server_config& config) {
  if (!config.bind_address.empty()) return asio::ip::make_address(config.bind_address);
  tcp::socket probe(asio::system_executor{});
  error_code ec;
  probe.open(tcp::v6(), ec);
  return ec ? asio::ip::address(asio::ip::address_v4::any())
            : asio::ip::address(asio::ip::address_v6::any());
}

} // namespace

echo_server::echo_server(asio::io_context& io, server_config config,
                         std::shared_ptr<spdlog::logger> log)
    : io_(io), config_(std::move(config)), log_(std::move(log)),
      control_(config_.threads > 1 ? asio::any_io_executor(asio::make_strand(io))
                                   : asio::any_io_executor(io.get_executor())),
      idle_sweep_timer_(control_), stats_timer_(control_), shutdown_timer_(control_) {}

echo_server::~echo_server() = default;

void echo_server::bind() {
  const auto address = listen_address(config_);
  // With --port 0 TCP and UDP should still share one port: take the one the
  // OS gave TCP for UDP, and try again if another socket holds it for UDP.
  constexpr int attempts = 16;
  for (int attempt = 1;; ++attempt) {
    std::optional<tcp::acceptor> acceptor;
    std::uint16_t port = config_.port;
    if (config_.tcp) {
      acceptor.emplace(open_acceptor(io_, address, config_.port, config_));
      port = acceptor->local_endpoint().port();
    }
    std::optional<udp::socket> udp_socket;
    if (config_.udp) {
      error_code ec;
      udp_socket.emplace(open_udp(io_, address, port, config_, ec));
      if (ec == asio::error::address_in_use && config_.tcp && config_.port == 0 && attempt < attempts)
        continue;
      if (ec) fail_bind("bind (UDP) on", address, port, ec);
    }

    if (acceptor) {
      tcp_endpoint_ = acceptor->local_endpoint();
      listener_ = std::make_unique<tcp_listener>(
          io_, std::move(*acceptor),
          listener_settings{config_.max_connections, config_.threads > 1},
          session_context{stats_, *log_, registry_}, [this] { on_session_end(); });
    }
    if (udp_socket) {
      udp_endpoint_ = udp_socket->local_endpoint();
      udp_ = std::make_unique<class udp_endpoint>(
          std::move(*udp_socket),
          udp_settings{config_.max_datagram, config_.udp_blocked_ports, config_.udp_rate_limit},
          stats_, *log_);
    }
    return;
  }
}

void echo_server::start() {
  log_->info("configuration: {}", describe(config_));
  bind();
  if (listener_) {
    log_->info("listening tcp {} (backlog {})", *tcp_endpoint_, config_.backlog);
    asio::co_spawn(control_, listener_->run(), [this](const std::exception_ptr& failure) {
      log_failure(*log_, "tcp listener", failure);
    });
  }
  if (udp_) {
    log_->info("listening udp {}", *udp_endpoint_);
    asio::co_spawn(control_, udp_->run(), [this](const std::exception_ptr& failure) {
      log_failure(*log_, "udp endpoint", failure);
    });
  }
  asio::post(control_, [this] {
    schedule_idle_sweep();
    schedule_stats();
  });
}

void echo_server::schedule_idle_sweep() {
  if (config_.idle_timeout.count() == 0 || !listener_ || finished_) return;
  idle_sweep_timer_.expires_after(idle_sweep_period(config_.idle_timeout));
  idle_sweep_timer_.async_wait([this](const error_code& ec) {
    if (ec || finished_) return;
    registry_.close_idle(session_registry::clock::now() - config_.idle_timeout);
    schedule_idle_sweep();
  });
}

void echo_server::schedule_stats() {
  if (config_.stats_interval.count() == 0 || stopping_) return;
  stats_timer_.expires_after(config_.stats_interval);
  stats_timer_.async_wait([this](const error_code& ec) {
    if (ec || stopping_) return;
    log_->info("stats: {}", describe(stats_));
    schedule_stats();
  });
}

void echo_server::stop() {
  asio::post(control_, [this] { begin_shutdown(); });
}

void echo_server::begin_shutdown() {
  if (stopping_) return;
  stopping_ = true;
  const auto open = stats_.sessions_open();
  log_->info("stopping: no new connections; {} session(s) open, waiting up to {} ms", open,
             config_.shutdown_timeout.count());
  if (listener_) listener_->close();
  if (udp_) udp_->close();
  stats_timer_.cancel();
  if (open == 0) {
    finish();
    return;
  }
  shutdown_timer_.expires_after(config_.shutdown_timeout);
  shutdown_timer_.async_wait([this](const error_code& ec) {
    if (ec || finished_) return;
    log_->info("shutdown timeout: closing {} session(s) still open", stats_.sessions_open());
    registry_.close_all();
  });
}

void echo_server::on_session_end() {
  asio::post(control_, [this] {
    if (stopping_ && stats_.sessions_open() == 0) finish();
  });
}

void echo_server::finish() {
  if (finished_) return;
  finished_ = true;
  idle_sweep_timer_.cancel();
  shutdown_timer_.cancel();
  log_->info("stopped: {}", describe(stats_));
  if (on_finished_) on_finished_();
}

int serve(const server_config& config, std::shared_ptr<spdlog::logger> log) {
  // Writes to a vanished peer must fail with EPIPE, never kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  asio::io_context io(static_cast<int>(config.threads));
  echo_server server(io, config, log);
  try {
    server.start();
  } catch (const std::system_error& e) {
    log->error("{}", e.what());
    return 1;
  }

  asio::signal_set signals(io, SIGINT, SIGTERM);
  bool signalled = false;
  std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int signo) {
    if (ec) return; // cancelled: the server has finished
    if (signalled) {
      log->warn("second signal ({}): exiting now", signo);
      log->flush();
      std::_Exit(128 + signo);
    }
    signalled = true;
    log->info("signal {} received: stopping gracefully (send it again to exit at once)", signo);
    server.stop();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  // The signal wait is the last piece of work once the server has finished;
  // cancelling it lets run() return on every thread.
  server.on_finished([&signals] { signals.cancel(); });

  {
    std::vector<std::jthread> extra_threads;
    for (unsigned i = 1; i < config.threads; ++i) extra_threads.emplace_back([&io] { io.run(); });
    io.run();
  }
  return 0;
}

} // namespace echo
