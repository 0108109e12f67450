#include "echo/client/bench/load_generator.hpp"

#include "echo/client/bench/bench_progress.hpp"
#include "echo/client/bench/churn_connection.hpp"
#include "echo/client/bench/tcp_bench_connection.hpp"
#include "echo/client/bench/udp_bench_connection.hpp"
#include "echo/client/connection/connect.hpp"
#include "echo/client/connection/proxy_header.hpp"
#include "echo/common/net/endpoint_format.hpp"

#include "echo/common/coro/deadline.hpp"
#include "echo/common/coro/wake_event.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>

namespace echo {
namespace {

using asio::ip::tcp;
using asio::ip::udp;
using clock = bench_run::clock;

template <class Socket>
void bind_source(Socket& socket, const bench_config& bench, std::size_t index) {
  if (bench.sources.empty()) return;
  const auto address = asio::ip::make_address(bench.sources[index % bench.sources.size()]);
  if constexpr (std::is_same_v<Socket, tcp::socket>) {
    // IP_BIND_ADDRESS_NO_PORT: a TCP socket bound to a source address gets
    // its port at connect(), where the kernel picks one free for this
    // destination (and may reuse ports in TIME_WAIT), not at bind(), which
    // needs a port unused by any connection. An old kernel without it: ports
    // are then picked at bind().
    const int on = 1;
    ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
  }
  socket.bind(typename Socket::endpoint_type(address, 0));
}

// Completes on Ctrl-C (or SIGTERM): the run stops early and still reports.
asio::awaitable<void> interrupted(asio::signal_set& signals) {
  auto [ec, signo] = co_await signals.async_wait(nothrow);
  if (!ec) std::cerr << "\ninterrupted: stopping and reporting what ran (again to exit at once)\n";
}

asio::awaitable<void> sleep_until(clock::time_point when) {
  asio::steady_timer timer(co_await asio::this_coro::executor, when);
  co_await timer.async_wait(nothrow);
}

// Runs the connections for the duration, then lets them drain (bounded by
// the timeout) and fills in the report.
template <class Connection>
asio::awaitable<void> drive(bench_run& run, std::vector<std::unique_ptr<Connection>>& connections) {
  using namespace asio::experimental::awaitable_operators;
  const auto executor = co_await asio::this_coro::executor;
  wake_event all_done(executor);
  const typename Connection::completion done = [&run, &all_done](const std::exception_ptr& failure) {
    if (failure) ++run.report.errors;
    if (--run.running == 0) all_done.notify();
  };
  run.start = clock::now();
  run.last_completion = run.start;
  for (auto& c : connections) run.running += c->start(done);

  // The progress line runs until the duration is over (or Ctrl-C), then is
  // cancelled and awaited, so it never outlives the state it reads.
  asio::signal_set interrupt(executor, SIGINT, SIGTERM);
  co_await (sleep_until(run.start + run.bench.duration) || show_progress(run) || interrupted(interrupt));
  end_progress_line();
  // From now on a second Ctrl-C ends the process at once.
  interrupt.async_wait([](const error_code& ec, int signo) {
    if (!ec) std::_Exit(128 + signo);
  });
  run.sending = false;
  const auto stopped_sending = clock::now();
  run.stopped_sending = stopped_sending;
  for (auto& c : connections) c->wake();

  // Let in-flight echoes arrive, but not forever.
  asio::steady_timer drain(executor, clock::now() + run.config.timeout);
  drain.async_wait([&](const error_code& ec) {
    if (ec) return;
    for (auto& c : connections) c->stop();
  });
  if (run.running > 0) co_await all_done.wait();
  drain.cancel();
  for (const auto& c : connections)
    if (c->verified() > 0) ++run.report.connections_echoed;
  const auto end = std::max(stopped_sending, run.last_completion);
  run.report.seconds = std::chrono::duration<double>(end - run.start).count();
}

asio::awaitable<void> bench_tcp(bench_run& run, spdlog::logger& log) {
  const auto tls = run.config.tls ? make_client_tls_context(*run.config.tls) : nullptr;
  // Find the address that answers (over TLS: one that completes a verified
  // handshake, so a bad certificate fails the run at once, in one line).
  tcp::endpoint target;
  {
    auto probe = co_await connect_stream(run.config, log);
    target = probe.socket().remote_endpoint();
    co_await finished_within(run.config.timeout, probe.finish()); // over TLS, its close_notify
  }
  if (run.bench.churn) {
    // Workers that each open their own connections, one after another.
    const auto executor = co_await asio::this_coro::executor;
    std::vector<std::unique_ptr<churn_connection>> workers;
    for (std::size_t i = 0; i < run.bench.connections; ++i)
      workers.push_back(std::make_unique<churn_connection>(run, executor, i, target, tls, log));
    co_await drive(run, workers);
    co_return;
  }
  std::vector<std::unique_ptr<tcp_bench_connection>> connections;
  connections.reserve(run.bench.connections);
  const auto setup_started = clock::now();
  for (std::size_t i = 0; i < run.bench.connections; ++i) {
    auto stream = co_await open_bench_stream(run, target, i, tls, log);
    if (stream) connections.push_back(std::make_unique<tcp_bench_connection>(run, std::move(*stream)));
  }
  run.report.setup_seconds = std::chrono::duration<double>(clock::now() - setup_started).count();
  if (connections.empty()) throw client_error("no connection to " + run.config.host + " could be opened");
  co_await drive(run, connections);
}

asio::awaitable<void> bench_udp(bench_run& run) {
  const auto endpoints = co_await resolve_udp(run.config);
  const auto target = endpoints.front();
  const auto executor = co_await asio::this_coro::executor;
  std::vector<std::unique_ptr<udp_bench_connection>> connections;
  for (std::size_t i = 0; i < run.bench.connections; ++i) {
    udp::socket socket(executor);
    socket.open(target.protocol());
    bind_source(socket, run.bench, i);
    socket.connect(target);
    connections.push_back(std::make_unique<udp_bench_connection>(run, std::move(socket)));
  }
  co_await drive(run, connections);
}

} // namespace

asio::awaitable<std::optional<client_stream>> open_bench_stream(bench_run& run, const tcp::endpoint& target,
                                                                std::size_t index,
                                                                const std::shared_ptr<asio::ssl::context>& tls,
                                                                spdlog::logger& log) {
  tcp::socket socket(co_await asio::this_coro::executor);
  error_code ec;
  socket.open(target.protocol(), ec);
  if (!ec) {
    try {
      bind_source(socket, run.bench, index);
    } catch (const boost::system::system_error& e) {
      ec = e.code();
    }
  }
  if (!ec) {
    // Every connection has a deadline: a listener whose accept queue is
    // full drops SYNs, and the kernel would retry for minutes.
    const bool done = co_await finished_within(run.config.timeout, [&]() -> asio::awaitable<void> {
      auto [connect_ec] = co_await socket.async_connect(target, nothrow);
      ec = connect_ec;
    }());
    if (!done) ec = asio::error::timed_out;
  }
  std::string failure = ec ? ec.message() : std::string();
  std::optional<client_stream> stream;
  if (!ec) {
    socket.set_option(tcp::no_delay(true), ec);
    if (run.config.proxy_header != 0) co_await send_proxy_header(socket, run.config.proxy_header);
    if (!tls) {
      stream.emplace(std::move(socket));
    } else {
      try {
        stream.emplace(co_await start_tls(std::move(socket), tls, run.config));
      } catch (const client_error& e) {
        failure = e.what();
      }
    }
  }
  if (!stream) {
    ++run.report.errors;
    if (run.report.errors == 1) log.error("connection {} to {} failed: {}", index, target, failure);
  }
  co_return stream;
}

asio::awaitable<int> run_load_generator(const client_config& config, spdlog::logger& log) {
  const auto& bench = *config.bench;
  bench_run run(config, bench);
  run.report.tls = config.tls.has_value();
  run.report.churn = bench.churn;
  if (config.protocol == transport::tcp)
    co_await bench_tcp(run, log);
  else
    co_await bench_udp(run);
  stamp_wall_clock(run.report, run.start);
  std::cout << (bench.json ? format_json(run.report) : format_text(run.report)) << std::flush;
  if (!config.json_out.empty()) write_report_file(config.json_out, format_json(run.report));
  const auto& r = run.report;
  bool most_lost = false;
  if (config.protocol == transport::udp && r.lost > 0) {
    // A lost datagram holds its place in the pipeline for --timeout, so a
    // few losses can stall a run: what share of the run's places (each
    // connection's pipeline, for the whole run) waited for replies that
    // never came.
    const double places = static_cast<double>(r.connections * r.pipeline) * r.seconds;
    const double waited = static_cast<double>(r.lost) * std::chrono::duration<double>(config.timeout).count();
    const double waiting = places > 0 ? std::min(1.0, waited / places) : 1.0;
    most_lost = r.lost * 2 > r.lost + r.requests || waiting > 0.5;
    if (most_lost || r.lost * 10 > r.lost + r.requests)
      std::cerr << "echo-client: " << r.lost << " of " << r.lost + r.requests
                << " datagrams lost, and the load generator spent about " << static_cast<int>(waiting * 100 + 0.5)
                << " % of the run waiting for their replies (--timeout each). If the server is echo-server, its "
                   "--udp-rate-limit (by default 1000 a second per source address) is the likely cause: run it "
                   "with --udp-rate-limit 0, or spread the load with --source\n";
  }
  // Most of the load lost is a failed run, not a slow one.
  const bool ok = r.errors == 0 && r.mismatches == 0 && r.requests > 0 && !most_lost;
  co_return ok ? 0 : 1;
}

} // namespace echo
