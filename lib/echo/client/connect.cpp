#include "echo/client/connect.hpp"

#include "echo/client/deadline.hpp"
#include "echo/common/duration_text.hpp"
#include "echo/common/endpoint_format.hpp"

namespace echo {

using asio::ip::tcp;
using asio::ip::udp;

std::string where(const client_config& c) { return c.host + " port " + std::to_string(c.port); }

asio::awaitable<tcp::socket> connect_tcp(const client_config& config, spdlog::logger& log) {
  const auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [resolve_ec, results] = co_await resolver.async_resolve(config.host, std::to_string(config.port), nothrow);
  if (resolve_ec) throw client_error("cannot resolve " + config.host + ": " + resolve_ec.message());

  std::string last_error = "no address";
  for (const auto& entry : results) {
    tcp::socket socket(executor);
    error_code ec;
    const bool done = co_await finished_within(config.timeout, [&]() -> asio::awaitable<void> {
      auto [connect_ec] = co_await socket.async_connect(entry.endpoint(), nothrow);
      ec = connect_ec;
    }());
    if (done && !ec) {
      socket.set_option(tcp::no_delay(true), ec);
      log.debug("connected to {}", entry.endpoint());
      co_return socket;
    }
    last_error = done ? ec.message() : "timed out after " + seconds_text(config.timeout);
    log.debug("connect to {} failed: {}", entry.endpoint(), last_error);
  }
  throw client_error("cannot connect to " + where(config) + ": " + last_error);
}

asio::awaitable<std::vector<udp::endpoint>> resolve_udp(const client_config& config) {
  udp::resolver resolver(co_await asio::this_coro::executor);
  auto [ec, results] = co_await resolver.async_resolve(config.host, std::to_string(config.port), nothrow);
  if (ec) throw client_error("cannot resolve " + config.host + ": " + ec.message());
  std::vector<udp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  co_return endpoints;
}

} // namespace echo
