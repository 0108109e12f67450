#include "echo/client/bench/tcp_bench_connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <tuple>

namespace echo {

tcp_bench_connection::tcp_bench_connection(bench_run& run, client_stream stream)
    : bench_connection(run, std::move(stream)), sent_at_(run.bench.pipeline),
      buffer_(std::clamp<std::size_t>(run.bench.size * run.bench.pipeline, 4096, 65536)) {}

std::size_t tcp_bench_connection::start(const completion& done) {
  start_schedule();
  asio::co_spawn(socket_.get_executor(), write_loop(), done);
  asio::co_spawn(socket_.get_executor(), read_loop(), done);
  return 2;
}

asio::awaitable<void> tcp_bench_connection::write_loop() {
  const auto size = run_.bench.size;
  const auto pipeline = run_.bench.pipeline;
  while (run_.sending && !failed_) {
    if (sent_ - completed_ >= pipeline) {
      co_await slot_free_.wait();
      continue;
    }
    if (must_wait_for_slot()) {
      pace_.expires_at(schedule_.next_due());
      co_await pace_.async_wait(deferred_nothrow);
      continue; // the run may have stopped, or the connection failed
    }
    sent_at_[sent_ % pipeline] = stamp(clock::now());
    writing_ = true; // its echo may start before the write completes
    const auto message = asio::buffer(run_.message(sent_), size);
    // On the TCP or TLS stream itself, so that the write is awaited in this
    // frame (see deferred_nothrow): client_stream takes only one token type.
    std::tuple<error_code, std::size_t> written;
    if (auto* tls = socket_.tls())
      written = co_await asio::async_write(*tls, message, deferred_nothrow);
    else
      written = co_await asio::async_write(socket_.socket(), message, deferred_nothrow);
    const auto [ec, n] = written;
    writing_ = false;
    if (ec) co_return fail();
    ++sent_;
  }
  stop_schedule();
  // The server sends back what it owes, then closes: the reader ends at EOF.
  // (Over TLS our close_notify is a write; the drain timeout bounds it.)
  co_await socket_.finish_sending();
}

asio::awaitable<void> tcp_bench_connection::read_loop() {
  for (;;) {
    std::tuple<error_code, std::size_t> read; // as in write_loop()
    if (auto* tls = socket_.tls())
      read = co_await tls->async_read_some(asio::buffer(buffer_), deferred_nothrow);
    else
      read = co_await socket_.socket().async_read_some(asio::buffer(buffer_), deferred_nothrow);
    const auto [ec, n] = read;
    if (is_end_of_stream(ec)) {
      if (completed_ != sent_) fail();
      co_return;
    }
    if (ec) co_return fail();
    consume(buffer_.data(), n, clock::now());
  }
}

// Checks bytes at stream position received_ against what was sent there.
void tcp_bench_connection::consume(const std::byte* data, std::size_t n, clock::time_point now) {
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
      if (message >= sent_ + (writing_ ? 1 : 0)) {
        // More came back than was sent (a server that echoes twice): no
        // later byte can be matched to a message, so the connection fails.
        ++run_.report.mismatches;
        fail();
        return;
      }
      if (message_ok_) {
        run_.completed(sent_at_[message % run_.bench.pipeline], now);
        ++verified_;
      } else {
        ++run_.report.mismatches;
      }
      message_ok_ = true;
      ++completed_;
      slot_free_.notify();
    }
  }
}

} // namespace echo
