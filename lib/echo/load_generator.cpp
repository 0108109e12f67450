#include "echo/load_generator.hpp"

#include "echo/echo_client.hpp"
#include "echo/endpoint_format.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <sstream>

namespace echo {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;
using clock = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Message k carries pattern[k % pattern_shift ...]: consecutive messages
// differ, so a byte echoed out of place is caught, and checking one is a
// memcmp against memory that never changes.
constexpr std::size_t pattern_shift = 251;
// UDP datagrams start with their sequence number.
constexpr std::size_t udp_header = sizeof(std::uint64_t);

std::uint64_t nanoseconds(clock::duration d) {
  return static_cast<std::uint64_t>(std::max<clock::rep>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
}

// Wakes a coroutine waiting in wait(): a timer that never expires by itself.
class event {
public:
  explicit event(const asio::any_io_executor& executor) : timer_(executor, clock::time_point::max()) {}
  asio::awaitable<void> wait() {
    timer_.expires_at(clock::time_point::max());
    co_await timer_.async_wait(nothrow);
  }
  void notify() { timer_.cancel(); }

private:
  asio::steady_timer timer_;
};

struct run_state {
  const client_config& config;
  const bench_config& bench;
  std::vector<std::byte> pattern;
  clock::time_point start{};
  clock::time_point last_completion{};
  bool sending = true;
  std::size_t running = 0;
  bench_report report;

  run_state(const client_config& c, const bench_config& b) : config(c), bench(b), pattern(b.size + pattern_shift) {
    for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::byte>((i * 7 + i / 251) & 0xff);
  }
  const std::byte* message(std::uint64_t k) const { return pattern.data() + k % pattern_shift; }

  // With --rate, message k of a connection is due at start + k * interval;
  // latency is then measured from when it was due, so a stalled server is
  // not flattered by the sends it delayed (no coordinated omission).
  // Zero without --rate.
  clock::duration interval() const {
    if (bench.rate <= 0) return clock::duration::zero();
    const double per_connection = bench.rate / static_cast<double>(bench.connections);
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / per_connection));
  }

  void completed(clock::time_point sent, clock::time_point now) {
    report.latency.record(nanoseconds(now - sent));
    ++report.requests;
    last_completion = now;
  }
};

// What TCP and UDP connections share: the socket, the event that wakes the
// writer when a slot in the pipeline frees up, pacing, and failure.
template <class Socket>
class connection_base {
public:
  connection_base(run_state& run, Socket socket)
      : run_(run), socket_(std::move(socket)), slot_free_(socket_.get_executor()),
        pace_(socket_.get_executor()), interval_(run.interval()) {}

  void stop() {
    error_code ignored;
    socket_.close(ignored);
    slot_free_.notify();
  }
  void wake() { slot_free_.notify(); }
  std::uint64_t verified() const { return verified_; }

protected:
  // When message k is due: now, or with --rate its slot in the schedule.
  clock::time_point due(std::uint64_t k) const {
    if (interval_ == clock::duration::zero()) return clock::now();
    return run_.start + interval_ * static_cast<clock::rep>(k);
  }

  // With --rate, waits until `when`; false if the run ended meanwhile.
  // Only paced runs come here, so unpaced sends cost no coroutine frame.
  asio::awaitable<bool> pace_until(clock::time_point when) {
    if (when <= clock::now()) co_return true;
    pace_.expires_at(when);
    co_await pace_.async_wait(nothrow);
    co_return run_.sending;
  }

  bool paced() const { return interval_ != clock::duration::zero(); }

  void fail() {
    if (!failed_) ++run_.report.errors;
    failed_ = true;
    stop();
  }

  run_state& run_;
  Socket socket_;
  event slot_free_;
  asio::steady_timer pace_;
  const clock::duration interval_; // computed once: zero when not paced
  std::uint64_t verified_ = 0;
  bool failed_ = false;
};

// ---- TCP -------------------------------------------------------------------

class tcp_connection : public connection_base<tcp::socket> {
public:
  tcp_connection(run_state& run, tcp::socket socket)
      : connection_base(run, std::move(socket)), sent_at_(run.bench.pipeline),
        buffer_(std::clamp<std::size_t>(run.bench.size * run.bench.pipeline, 4096, 65536)) {}

  asio::awaitable<void> write_loop() {
    const auto size = run_.bench.size;
    const auto pipeline = run_.bench.pipeline;
    while (run_.sending && !failed_) {
      if (sent_ - completed_ >= pipeline) {
        co_await slot_free_.wait();
        continue;
      }
      const auto when = due(sent_);
      if (paced() && !co_await pace_until(when)) break;
      sent_at_[sent_ % pipeline] = when;
      auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(run_.message(sent_), size), nothrow);
      if (ec) co_return fail();
      ++sent_;
    }
    // The server sends back what it owes, then closes: the reader ends at EOF.
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> read_loop() {
    for (;;) {
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer_), nothrow);
      if (ec == asio::error::eof) {
        if (completed_ != sent_) fail();
        co_return;
      }
      if (ec) co_return fail();
      consume(buffer_.data(), n, clock::now());
    }
  }

  // Spawns the connection's coroutines; returns how many.
  template <class Done>
  std::size_t start(const Done& done) {
    asio::co_spawn(socket_.get_executor(), write_loop(), done);
    asio::co_spawn(socket_.get_executor(), read_loop(), done);
    return 2;
  }

private:
  // Checks bytes at stream position received_ against what was sent there.
  void consume(const std::byte* data, std::size_t n, clock::time_point now) {
    const auto size = run_.bench.size;
    run_.report.bytes += n;
    while (n > 0) {
      const auto message = received_ / size;
      const auto offset = received_ % size;
      const auto take = std::min<std::size_t>(n, size - offset);
      if (std::memcmp(data, run_.message(message) + offset, take) != 0) message_ok_ = false;
      received_ += take;
      data += take;
      n -= take;
      if (offset + take == size) {
        if (message_ok_) {
          run_.completed(sent_at_[message % run_.bench.pipeline], now);
          ++verified_;
        } else
          ++run_.report.mismatches;
        message_ok_ = true;
        ++completed_;
        slot_free_.notify();
      }
    }
  }

  std::vector<clock::time_point> sent_at_;
  std::vector<std::byte> buffer_;
  std::uint64_t sent_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t received_ = 0;
  bool message_ok_ = true;
};

// ---- UDP -------------------------------------------------------------------

class udp_connection : public connection_base<udp::socket> {
public:
  udp_connection(run_state& run, udp::socket socket)
      : connection_base(run, std::move(socket)), slots_(run.bench.pipeline), datagram_(run.bench.size),
        buffer_(65536) {}

  asio::awaitable<void> write_loop() {
    const auto pipeline = run_.bench.pipeline;
    while (run_.sending && !failed_) {
      auto& slot = slots_[next_ % pipeline];
      if (slot.busy) {
        co_await slot_free_.wait();
        continue;
      }
      const auto when = due(next_);
      if (paced() && !co_await pace_until(when)) break;
      std::memcpy(datagram_.data(), &next_, udp_header);
      std::memcpy(datagram_.data() + udp_header, run_.message(next_), datagram_.size() - udp_header);
      slot = {next_, when, true};
      ++busy_;
      ++next_;
      auto [ec, n] = co_await socket_.async_send(asio::buffer(datagram_), nothrow);
      if (ec) co_return fail();
    }
  }

  asio::awaitable<void> read_loop() {
    while (!(finished_sending() && busy_ == 0)) {
      auto [ec, n] = co_await socket_.async_receive(asio::buffer(buffer_), nothrow);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) co_return fail(); // e.g. ICMP port unreachable
      const auto now = clock::now();
      run_.report.bytes += n;
      std::uint64_t seq = 0;
      if (n >= udp_header) std::memcpy(&seq, buffer_.data(), udp_header);
      auto& slot = slots_[seq % run_.bench.pipeline];
      if (n < udp_header || !slot.busy || slot.seq != seq) continue; // late reply to a datagram counted lost
      slot.busy = false;
      --busy_;
      slot_free_.notify();
      if (n != datagram_.size() ||
          std::memcmp(buffer_.data() + udp_header, run_.message(seq), n - udp_header) != 0)
        ++run_.report.mismatches;
      else {
        run_.completed(slot.sent, now);
        ++verified_;
      }
    }
  }

  // Datagrams without a reply for the timeout are lost: free their slots.
  asio::awaitable<void> loss_sweep() {
    asio::steady_timer timer(socket_.get_executor());
    const auto timeout = run_.config.timeout;
    while (!failed_ && !(finished_sending() && busy_ == 0)) {
      timer.expires_after(std::clamp<clock::duration>(timeout / 10, std::chrono::milliseconds(1), std::chrono::milliseconds(100)));
      co_await timer.async_wait(nothrow);
      const auto now = clock::now();
      for (auto& slot : slots_) {
        if (slot.busy && now - slot.sent > timeout) {
          slot.busy = false;
          --busy_;
          ++run_.report.lost;
          slot_free_.notify();
        }
      }
    }
    error_code ignored;
    socket_.cancel(ignored); // ends the reader's last receive
  }

  template <class Done>
  std::size_t start(const Done& done) {
    asio::co_spawn(socket_.get_executor(), write_loop(), done);
    asio::co_spawn(socket_.get_executor(), read_loop(), done);
    asio::co_spawn(socket_.get_executor(), loss_sweep(), done);
    return 3;
  }

private:
  struct in_flight {
    std::uint64_t seq = 0;
    clock::time_point sent{};
    bool busy = false;
  };

  bool finished_sending() const { return !run_.sending || failed_; }

  std::vector<in_flight> slots_;
  std::vector<std::byte> datagram_;
  std::vector<std::byte> buffer_;
  std::uint64_t next_ = 0;
  std::size_t busy_ = 0;
};

// ---- set-up, progress, report ---------------------------------------------

std::string with_unit(std::uint64_t ns) {
  std::ostringstream out;
  out.precision(ns >= 10'000'000 ? 0 : 1);
  if (ns >= 1'000'000)
    out << std::fixed << static_cast<double>(ns) / 1e6 << "ms";
  else
    out << std::fixed << static_cast<double>(ns) / 1e3 << "us";
  return out.str();
}

template <class Socket>
void bind_source(Socket& socket, const bench_config& bench, std::size_t index) {
  if (bench.sources.empty()) return;
  const auto address = asio::ip::make_address(bench.sources[index % bench.sources.size()]);
  socket.bind(typename Socket::endpoint_type(address, 0));
}

// Once a second until cancelled: one updating line on a terminal, plain
// lines otherwise.
asio::awaitable<void> show_progress(run_state& run) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  std::uint64_t previous = 0;
  auto tick = run.start;
  for (;;) {
    tick += std::chrono::seconds(1);
    timer.expires_at(tick);
    auto [ec] = co_await timer.async_wait(nothrow);
    if (ec) break;
    const auto elapsed = std::chrono::duration<double>(tick - run.start).count();
    std::ostringstream line;
    line.precision(0);
    line << std::fixed << "[" << elapsed << "s] " << run.report.requests << " requests, "
         << static_cast<double>(run.report.requests - previous) << " req/s, p99 "
         << with_unit(run.report.latency.quantile(0.99)) << ", errors " << run.report.errors << ", mismatches "
         << run.report.mismatches;
    if (run.config.protocol == transport::udp) line << ", lost " << run.report.lost;
    previous = run.report.requests;
    if (terminal)
      std::cerr << "\r\033[K" << line.str() << std::flush;
    else
      std::cerr << line.str() << '\n';
  }
  if (terminal) std::cerr << "\r\033[K" << std::flush;
}

asio::awaitable<void> sleep_until(clock::time_point when) {
  asio::steady_timer timer(co_await asio::this_coro::executor, when);
  co_await timer.async_wait(nothrow);
}

// Runs the connections for the duration, then lets them drain (bounded by
// the timeout) and fills in the report.
template <class Connection>
asio::awaitable<void> drive(run_state& run, std::vector<std::unique_ptr<Connection>>& connections) {
  const auto executor = co_await asio::this_coro::executor;
  event all_done(executor);
  const auto done = [&run, &all_done](const std::exception_ptr& failure) {
    if (failure) ++run.report.errors;
    if (--run.running == 0) all_done.notify();
  };
  run.start = clock::now();
  run.last_completion = run.start;
  for (auto& c : connections) run.running += c->start(done);

  // The progress line runs until the duration is over, then is cancelled
  // and awaited, so it never outlives the state it reads.
  co_await (sleep_until(run.start + run.bench.duration) || show_progress(run));
  run.sending = false;
  const auto stopped_sending = clock::now();
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

asio::awaitable<void> bench_tcp(run_state& run, spdlog::logger& log) {
  // Find the address that answers, then open every connection to it.
  const auto target = (co_await connect_tcp(run.config, log)).remote_endpoint();
  const auto executor = co_await asio::this_coro::executor;
  std::vector<std::unique_ptr<tcp_connection>> connections;
  connections.reserve(run.bench.connections);
  for (std::size_t i = 0; i < run.bench.connections; ++i) {
    tcp::socket socket(executor);
    error_code ec;
    socket.open(target.protocol(), ec);
    if (!ec) {
      try {
        bind_source(socket, run.bench, i);
      } catch (const boost::system::system_error& e) {
        ec = e.code();
      }
    }
    if (!ec) {
      auto [connect_ec] = co_await socket.async_connect(target, nothrow);
      ec = connect_ec;
    }
    if (ec) {
      ++run.report.errors;
      if (run.report.errors == 1) log.error("connection {} to {} failed: {}", i, target, ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    connections.push_back(std::make_unique<tcp_connection>(run, std::move(socket)));
  }
  if (connections.empty()) throw client_error("no connection to " + run.config.host + " could be opened");
  co_await drive(run, connections);
}

asio::awaitable<void> bench_udp(run_state& run) {
  const auto endpoints = co_await resolve_udp(run.config);
  const auto target = endpoints.front();
  const auto executor = co_await asio::this_coro::executor;
  std::vector<std::unique_ptr<udp_connection>> connections;
  for (std::size_t i = 0; i < run.bench.connections; ++i) {
    udp::socket socket(executor);
    socket.open(target.protocol());
    bind_source(socket, run.bench, i);
    socket.connect(target);
    connections.push_back(std::make_unique<udp_connection>(run, std::move(socket)));
  }
  co_await drive(run, connections);
}

} // namespace

std::string format_text(const bench_report& r) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  out << (r.protocol == transport::tcp ? "tcp" : "udp") << ", " << r.connections << " connection(s), " << r.size
      << " bytes, pipeline " << r.pipeline << ", " << r.seconds << " s\n"
      << "requests    " << r.requests << '\n'
      << "req/s       " << r.requests_per_second() << '\n'
      << "MB/s        " << r.megabytes_per_second() << '\n'
      << "latency     p50 " << with_unit(r.latency.quantile(0.5)) << "  p90 " << with_unit(r.latency.quantile(0.9))
      << "  p99 " << with_unit(r.latency.quantile(0.99)) << "  p99.9 " << with_unit(r.latency.quantile(0.999))
      << "  max " << with_unit(r.latency.max()) << '\n'
      << "echoed on   " << r.connections_echoed << " of " << r.connections << " connection(s)\n"
      << "errors      " << r.errors << '\n'
      << "mismatches  " << r.mismatches << '\n';
  if (r.protocol == transport::udp) out << "lost        " << r.lost << '\n';
  return out.str();
}

asio::awaitable<int> run_load_generator(const client_config& config, spdlog::logger& log) {
  const auto& bench = *config.bench;
  run_state run(config, bench);
  run.report.protocol = config.protocol;
  run.report.connections = bench.connections;
  run.report.size = bench.size;
  run.report.pipeline = bench.pipeline;
  if (config.protocol == transport::tcp)
    co_await bench_tcp(run, log);
  else
    co_await bench_udp(run);
  std::cout << (bench.json ? format_json(run.report) : format_text(run.report)) << std::flush;
  const bool ok = run.report.errors == 0 && run.report.mismatches == 0 && run.report.requests > 0;
  co_return ok ? 0 : 1;
}

std::string format_json(const bench_report& r) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(3);
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  out << R"({"protocol":")" << (r.protocol == transport::tcp ? "tcp" : "udp") << R"(","connections":)"
      << r.connections << R"(,"size":)" << r.size << R"(,"pipeline":)" << r.pipeline << R"(,"seconds":)"
      << r.seconds << R"(,"requests":)" << r.requests << R"(,"req_per_s":)" << r.requests_per_second()
      << R"(,"mb_per_s":)" << r.megabytes_per_second() << R"(,"latency_us":{"p50":)" << us(r.latency.quantile(0.5))
      << R"(,"p90":)" << us(r.latency.quantile(0.9)) << R"(,"p99":)" << us(r.latency.quantile(0.99))
      << R"(,"p99_9":)" << us(r.latency.quantile(0.999)) << R"(,"max":)" << us(r.latency.max())
      << R"(},"errors":)" << r.errors << R"(,"mismatches":)" << r.mismatches << R"(,"lost":)" << r.lost << R"(,"connections_echoed":)" << r.connections_echoed << "}\n";
  return out.str();
}

} // namespace echo
