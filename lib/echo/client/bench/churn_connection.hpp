#pragma once

#include "echo/client/bench/bench_run.hpp"
#include "echo/client/connection/client_stream.hpp"
#include "echo/common/asio.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <spdlog/logger.h>

#include <exception>
#include <functional>
#include <memory>
#include <optional>

namespace echo {

// --bench --churn: a worker that connects, echoes one message, closes, and
// connects again, as health checks and short-lived clients do. Every cycle
// is one request: its latency runs from the connect to the whole echo, and
// its bytes are checked. With several --source addresses, the cycles take
// them in turn, so more ephemeral ports are in use.
class churn_connection {
public:
  using clock = bench_run::clock;
  using completion = std::function<void(std::exception_ptr)>;

  churn_connection(bench_run& run, boost::asio::any_io_executor executor, std::size_t index,
                   boost::asio::ip::tcp::endpoint target, std::shared_ptr<boost::asio::ssl::context> tls,
                   spdlog::logger& log);

  std::size_t start(const completion& done);
  // Ends the cycle under way; the worker sees that the run stopped.
  void stop();
  void wake() {}
  std::uint64_t verified() const { return verified_; }

private:
  asio::awaitable<void> cycle_loop();
  // One connect, echo, close; false when it failed (counted).
  asio::awaitable<bool> cycle(std::uint64_t k);

  bench_run& run_;
  boost::asio::any_io_executor executor_;
  std::size_t index_;
  boost::asio::ip::tcp::endpoint target_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  spdlog::logger& log_;
  std::optional<client_stream> stream_; // the cycle's connection
  std::vector<std::byte> buffer_;
  std::uint64_t verified_ = 0;
  bool stopped_ = false;
};

} // namespace echo
