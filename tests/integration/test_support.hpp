#pragma once

// Helpers for in-process integration tests: an echo_server on an OS-chosen
// port with its io_context on its own thread(s), and blocking clients whose
// every call is bounded by a socket timeout, so no test can hang.

#include "echo/server/echo_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <sys/socket.h>

#include <chrono>
#include <future>
#include <memory>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

namespace echo::testing {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

inline constexpr auto io_timeout = std::chrono::seconds(10);

enum class ip_version { v4, v6 };
inline std::string loopback(ip_version v) { return v == ip_version::v4 ? "127.0.0.1" : "::1"; }
inline std::string name_of(const ::testing::TestParamInfo<ip_version>& info) {
  return info.param == ip_version::v4 ? "IPv4" : "IPv6";
}

inline server_config test_config(ip_version v) {
  server_config config;
  config.bind_address = loopback(v);
  config.port = 0;
  config.log_level = spdlog::level::debug;
  return config;
}

// A server running on its own threads. The log is captured in memory.
class running_server {
public:
  explicit running_server(server_config config)
      : io_(static_cast<int>(config.threads)),
        log_(std::make_shared<spdlog::logger>("echo-server",
                                              std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_))),
        server_(io_, config, log_) {
    log_->set_level(config.log_level);
    server_.start();
    for (unsigned i = 0; i < config.threads; ++i)
      threads_.push_back(std::async(std::launch::async, [this] { io_.run(); }));
  }

  ~running_server() {
    server_.stop();
    if (!wait_stopped(std::chrono::seconds(20))) {
      ADD_FAILURE() << "server did not stop gracefully; forcing";
      io_.stop();
    }
    for (auto& t : threads_) t.wait();
  }

  running_server(const running_server&) = delete;
  running_server& operator=(const running_server&) = delete;

  tcp::endpoint tcp_endpoint() const { return *server_.tcp_endpoint(); }
  udp::endpoint udp_endpoint() const { return *server_.udp_endpoint(); }
  echo_server& server() { return server_; }

  // True once io_context::run() has returned on every thread.
  bool wait_stopped(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (auto& t : threads_)
      if (t.wait_until(deadline) != std::future_status::ready) return false;
    return true;
  }

  std::string log_text() {
    log_->flush();
    return log_text_.str();
  }

private:
  std::ostringstream log_text_;
  asio::io_context io_;
  std::shared_ptr<spdlog::logger> log_;
  echo_server server_;
  std::vector<std::future<void>> threads_;
};

template <class Socket>
void bound_io_time(Socket& socket) {
  timeval tv{static_cast<time_t>(io_timeout.count()), 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

inline tcp::socket connect_tcp(asio::io_context& io, const tcp::endpoint& server) {
  tcp::socket socket(io);
  socket.open(server.protocol());
  bound_io_time(socket);
  socket.connect(server);
  return socket;
}

inline udp::socket open_udp(asio::io_context& io, const udp::endpoint& server) {
  udp::socket socket(io);
  socket.open(server.protocol());
  bound_io_time(socket);
  socket.connect(server);
  return socket;
}

inline std::vector<unsigned char> random_bytes(std::size_t n, unsigned seed = 42) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> out(n);
  for (auto& b : out) b = static_cast<unsigned char>(rng());
  return out;
}

// Reads until EOF (or `limit` bytes); a timeout fails the read.
inline std::vector<unsigned char> read_to_end(tcp::socket& socket, std::size_t limit = SIZE_MAX) {
  std::vector<unsigned char> out;
  std::array<unsigned char, 65536> chunk{};
  boost::system::error_code ec;
  while (out.size() < limit) {
    const auto n = socket.read_some(asio::buffer(chunk), ec);
    if (ec) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (ec && ec != asio::error::eof) throw boost::system::system_error(ec, "read_to_end");
  return out;
}

} // namespace echo::testing
