#include "echo/client/udp_exchanger.hpp"

#include "echo/client/connect.hpp"
#include "echo/client/deadline.hpp"
#include "echo/common/duration_text.hpp"

namespace echo {

using asio::ip::udp;

udp_exchanger::udp_exchanger(std::vector<udp::endpoint> endpoints, const client_config& config)
    : endpoints_(std::move(endpoints)), config_(config) {}

asio::awaitable<std::string> udp_exchanger::exchange(std::string_view payload) {
  const auto executor = co_await asio::this_coro::executor;
  std::string last_error = "no reply within " + seconds_text(config_.timeout);
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const auto index = (current_ + tried) % endpoints_.size();
    if (!socket_ || index != current_) {
      socket_.emplace(executor);
      socket_->open(endpoints_[index].protocol());
      socket_->connect(endpoints_[index]); // so ICMP "port unreachable" reaches us
      current_ = index;
    }
    error_code ec;
    socket_->send(asio::buffer(payload), 0, ec);
    if (ec) {
      last_error = ec.message();
      continue;
    }
    std::string reply(65536, '\0');
    std::size_t received = 0;
    const bool answered = co_await finished_within(config_.timeout, [&]() -> asio::awaitable<void> {
      auto [receive_ec, n] = co_await socket_->async_receive(asio::buffer(reply), nothrow);
      ec = receive_ec;
      received = n;
    }());
    if (answered && !ec) {
      reply.resize(received);
      co_return reply;
    }
    last_error = answered ? ec.message() : "no reply within " + seconds_text(config_.timeout);
  }
  throw client_error("udp " + where(config_) + ": " + last_error);
}

} // namespace echo
