#include "echo/client/modes/udp_exchanger.hpp"

#include "echo/client/connection/connect.hpp"
#include "echo/common/coro/deadline.hpp"
#include "echo/common/duration_text.hpp"

#include <algorithm>
#include <iostream>

namespace echo {

using asio::ip::udp;

udp_exchanger::udp_exchanger(std::vector<udp::endpoint> endpoints, const client_config& config)
    : endpoints_(std::move(endpoints)), config_(config), reply_(65536) {}

asio::awaitable<std::string> udp_exchanger::exchange(std::string_view payload) {
  const auto executor = co_await asio::this_coro::executor;
  std::string last_error = "no reply within " + seconds_text(config_.timeout);
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const auto index = (current_ + tried) % endpoints_.size();
    if (!socket_ || index != current_) {
      socket_.emplace(executor);
      socket_->open(endpoints_[index].protocol());
      socket_->connect(endpoints_[index]); // so ICMP "port unreachable" reaches us
      socket_->non_blocking(true);
      current_ = index;
    }
    discard_late_replies();
    error_code ec;
    socket_->send(asio::buffer(payload), 0, ec);
    if (ec) {
      last_error = ec.message();
      continue;
    }
    const auto deadline = std::chrono::steady_clock::now() + config_.timeout;
    for (;;) {
      std::size_t received = 0;
      const auto left = deadline - std::chrono::steady_clock::now();
      const bool answered = left > std::chrono::steady_clock::duration::zero() &&
                            co_await finished_within(left, [&]() -> asio::awaitable<void> {
                              auto [receive_ec, n] = co_await socket_->async_receive(asio::buffer(reply_), nothrow);
                              ec = receive_ec;
                              received = n;
                            }());
      if (!answered) {
        last_error = "no reply within " + seconds_text(config_.timeout);
        break;
      }
      if (ec) {
        last_error = ec.message();
        break;
      }
      const std::string_view reply(reply_.data(), received);
      // The echo of a line given up on earlier is not the answer to this one.
      if (reply != payload && is_lost(reply)) {
        report_late(reply);
        continue;
      }
      settled_ = true;
      co_return std::string(reply);
    }
    if (last_error.starts_with("no reply")) remember_lost(payload);
  }
  throw client_error(failure_text(config_, last_error));
}

void udp_exchanger::discard_late_replies() {
  // The socket is non-blocking: this takes only what is already there.
  error_code ec;
  for (;;) {
    const auto n = socket_->receive(asio::buffer(reply_), 0, ec);
    if (ec) return; // nothing waiting (would_block), or an ICMP error from a past datagram
    report_late(std::string_view(reply_.data(), n));
  }
}

void udp_exchanger::report_late(std::string_view reply) {
  std::cerr << "echo-client: a late reply (" << reply.size() << " bytes) to an earlier line, ignored\n";
}

bool udp_exchanger::is_lost(std::string_view reply) const {
  return std::find(lost_.begin(), lost_.end(), reply) != lost_.end();
}

void udp_exchanger::remember_lost(std::string_view payload) {
  if (lost_.size() == max_lost_remembered) lost_.pop_front();
  lost_.emplace_back(payload);
}

} // namespace echo
