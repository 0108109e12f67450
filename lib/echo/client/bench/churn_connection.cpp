#include "echo/client/bench/churn_connection.hpp"

#include "echo/client/bench/load_generator.hpp"
#include "echo/common/net/endpoint_format.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <cstring>

namespace echo {

churn_connection::churn_connection(bench_run& run, asio::any_io_executor executor, std::size_t index,
                                   asio::ip::tcp::endpoint target, std::shared_ptr<asio::ssl::context> tls,
                                   spdlog::logger& log)
    : run_(run), executor_(std::move(executor)), index_(index), target_(std::move(target)), tls_(std::move(tls)),
      log_(log), buffer_(run.bench.size) {}

std::size_t churn_connection::start(const completion& done) {
  asio::co_spawn(executor_, cycle_loop(), done);
  return 1;
}

void churn_connection::stop() {
  stopped_ = true;
  error_code ignored;
  if (stream_) stream_->close(ignored);
}

asio::awaitable<void> churn_connection::cycle_loop() {
  // A failed cycle (counted) ends this worker; the others go on.
  for (std::uint64_t k = 0; run_.sending && !stopped_; ++k)
    if (!co_await cycle(k)) break;
}

asio::awaitable<bool> churn_connection::cycle(std::uint64_t k) {
  const auto started = clock::now();
  const auto size = run_.bench.size;
  // Each cycle takes the next --source address.
  stream_ = co_await open_bench_stream(run_, target_, index_ + k, tls_, log_);
  if (!stream_) co_return false;
  auto [write_ec, written] = co_await asio::async_write(*stream_, asio::buffer(run_.message(k), size), nothrow);
  error_code ec = write_ec;
  if (!ec) {
    auto [read_ec, got] = co_await asio::async_read(*stream_, asio::buffer(buffer_), nothrow);
    ec = read_ec;
  }
  bool ok = !ec;
  if (ok) {
    const auto now = clock::now();
    run_.report.bytes += size;
    if (std::memcmp(buffer_.data(), run_.message(k), size) == 0) {
      run_.completed(started, now);
      ++verified_;
    } else {
      ++run_.report.mismatches;
    }
    co_await stream_->finish(); // over TLS, close_notify; plain TCP just closes
  } else if (run_.sending && !stopped_) {
    ++run_.report.errors;
    if (run_.report.errors == 1) log_.error("churn cycle to {} failed: {}", target_, ec.message());
  }
  error_code ignored;
  stream_->close(ignored);
  stream_.reset();
  co_return ok;
}

} // namespace echo
