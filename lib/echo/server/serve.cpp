#include "echo/server/serve.hpp"

#include "echo/common/asio.hpp"
#include "echo/common/logging.hpp"
#include "echo/server/echo_server.hpp"
#include "echo/server/exit_codes.hpp"
#include "echo/server/systemd.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <csignal>
#include <thread>
#include <vector>

namespace echo {
namespace {

// The signals a running server acts on: SIGINT and SIGTERM stop it
// gracefully (a second one exits at once); SIGHUP never stops it: it
// reloads the TLS certificate and key. Everything
// here runs on one strand: the handler, its re-arm, and the cancel once the
// server has finished, so a signal that arrives as the stop completes can
// never re-arm a wait that nothing would cancel (which would keep run() from
// returning).
class server_signals {
public:
  server_signals(asio::io_context& io, echo_server& server, spdlog::logger& log)
      : strand_(asio::make_strand(io)), signals_(strand_, SIGINT, SIGTERM, SIGHUP), server_(server), log_(log) {
    wait();
    server_.on_finished([this] {
      asio::post(strand_, [this] {
        finished_ = true;
        error_code ignored;
        signals_.cancel(ignored);
      });
    });
  }

private:
  void wait() {
    signals_.async_wait([this](const error_code& ec, int signo) {
      if (ec || finished_) return;
      if (signo == SIGHUP) {
        server_.reload_tls();
        wait();
        return;
      }
      if (signalled_) {
        log_.warn("second signal ({}): exiting now", signo);
        log_.flush();
        std::_Exit(128 + signo);
      }
      signalled_ = true;
      log_.info("signal {} received: stopping gracefully (send it again to exit at once)", signo);
      notify_systemd("STOPPING=1\nSTATUS=stopping: draining " + std::to_string(server_.stats().sessions_open()) +
                     " session(s)");
      server_.stop();
      wait();
    });
  }

  asio::strand<asio::io_context::executor_type> strand_;
  asio::signal_set signals_;
  echo_server& server_;
  spdlog::logger& log_;
  bool signalled_ = false;
  bool finished_ = false;
};

// Under systemd with Type=notify: READY=1 once every endpoint is served,
// then STATUS= with the open sessions every few seconds (what `systemctl
// status` shows). Nothing at all when NOTIFY_SOCKET is unset.
class systemd_status {
public:
  systemd_status(asio::io_context& io, echo_server& server) : timer_(asio::make_strand(io)), server_(server) {
    server.on_finished([this] { finish(); });
  }

  // After start(): posted behind the coroutines start() spawned, so they
  // are waiting on their sockets by the time systemd hears we are ready.
  void ready() {
    if (!systemd_is_listening()) return;
    asio::post(timer_.get_executor(), [this] {
      notify_systemd("READY=1\n" + status());
      schedule();
    });
  }

private:
  void finish() {
    asio::post(timer_.get_executor(), [this] {
      finished_ = true;
      timer_.cancel();
    });
  }

  std::string status() const {
    return "STATUS=serving: " + std::to_string(server_.stats().sessions_open()) + " session(s) open";
  }
  void schedule() {
    if (finished_) return;
    timer_.expires_after(std::chrono::seconds(5));
    timer_.async_wait([this](const error_code& ec) {
      if (ec || finished_) return;
      if (server_.ready()) notify_systemd(status());
      schedule();
    });
  }

  asio::steady_timer timer_;
  const echo_server& server_;
  bool finished_ = false;
};

} // namespace

int serve(const server_config& config, std::shared_ptr<spdlog::logger> log) {
  // Writes to a vanished peer must fail with EPIPE, never kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  // The sockets systemd passed are checked before anything here opens a
  // descriptor: a passed descriptor that is closed must still be found
  // closed, not reused by the io_context's own.
  const auto inherited = take_inherited_sockets(); // throws: the caller maps it (exit_codes.hpp)
  asio::io_context io(static_cast<int>(config.threads));
  echo_server server(io, config, log);
  // Before start(): a signal sent once the `listening` lines are out must
  // find its handler in place.
  const server_signals signals(io, server, *log);
  systemd_status status(io, server);
  server.start(inherited);
  status.ready();

  std::vector<std::jthread> extra_threads;
  for (unsigned i = 1; i < config.threads; ++i) extra_threads.emplace_back([&io] { io.run(); });
  io.run();
  return exit_clean_stop; // the jthreads join first: run() returns on every thread once the stop is done
}

} // namespace echo
