#include "echo/client/connect.hpp"

#include "echo/client/deadline.hpp"
#include "echo/client/proxy_header.hpp"
#include "echo/common/duration_text.hpp"
#include "echo/common/endpoint_format.hpp"

#include <cctype>
#include <string_view>

namespace echo {

using asio::ip::tcp;
using asio::ip::udp;

std::string where(const client_config& c) { return c.host + " port " + std::to_string(c.port); }

std::string failure_text(const client_config& c, const std::string& why) {
  return (c.protocol == transport::tcp ? "tcp " : "udp ") + where(c) + ": " + why;
}

namespace {

// RFC 6761: "localhost" and names under ".localhost" are the loopback
// addresses, answered without asking any resolver (as curl does), so the
// default host works where /etc/hosts is missing or lists one family only.
bool is_localhost(std::string_view host) {
  std::string lower(host);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.ends_with('.')) lower.pop_back();
  return lower == "localhost" || lower.ends_with(".localhost");
}

template <class Protocol>
std::vector<typename Protocol::endpoint> loopback_endpoints(std::uint16_t port) {
  return {{asio::ip::address_v4::loopback(), port}, {asio::ip::address_v6::loopback(), port}};
}

// Every address HOST names, in the resolver's order.
// (-4 and -6 keep one family.)
template <class Protocol>
asio::awaitable<std::vector<typename Protocol::endpoint>> resolve(const client_config& config) {
  std::vector<typename Protocol::endpoint> endpoints;
  if (is_localhost(config.host)) {
    endpoints = loopback_endpoints<Protocol>(config.port);
  } else {
    typename Protocol::resolver resolver(co_await asio::this_coro::executor);
    auto [ec, results] = co_await resolver.async_resolve(config.host, std::to_string(config.port), nothrow);
    if (ec) throw client_error("cannot resolve " + config.host + ": " + ec.message());
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  if (config.family != address_family::any) {
    const bool v4 = config.family == address_family::v4;
    std::erase_if(endpoints, [v4](const auto& e) { return e.address().is_v4() != v4; });
    if (endpoints.empty())
      throw client_error("cannot resolve " + config.host + ": no " + (v4 ? "IPv4" : "IPv6") + " address");
  }
  co_return endpoints;
}

} // namespace

asio::awaitable<tcp::socket> connect_tcp(const client_config& config, spdlog::logger& log) {
  const auto executor = co_await asio::this_coro::executor;
  const auto endpoints = co_await resolve<tcp>(config);
  std::string last_error = "no address";
  for (const auto& endpoint : endpoints) {
    tcp::socket socket(executor);
    error_code ec;
    const bool done = co_await finished_within(config.timeout, [&]() -> asio::awaitable<void> {
      auto [connect_ec] = co_await socket.async_connect(endpoint, nothrow);
      ec = connect_ec;
    }());
    if (done && !ec) {
      socket.set_option(tcp::no_delay(true), ec);
      log.info("connected to {}", endpoint);
      if (config.proxy_header != 0) co_await send_proxy_header(socket, config.proxy_header);
      co_return socket;
    }
    last_error = done ? ec.message() : "timed out after " + seconds_text(config.timeout);
    log.debug("connect to {} failed: {}", endpoint, last_error);
  }
  throw client_error("cannot connect to " + where(config) + ": " + last_error);
}

asio::awaitable<std::vector<udp::endpoint>> resolve_udp(const client_config& config) {
  co_return co_await resolve<udp>(config);
}

} // namespace echo
