#pragma once

#include "echo/common/asio.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>

namespace echo {

// Lets one coroutine sleep in wait() until another calls notify(): a timer
// that never expires by itself, cancelled to wake the waiter.
class wake_event {
public:
  explicit wake_event(const asio::any_io_executor& executor)
      : timer_(executor, std::chrono::steady_clock::time_point::max()) {}

  asio::awaitable<void> wait() {
    timer_.expires_at(std::chrono::steady_clock::time_point::max());
    co_await timer_.async_wait(nothrow);
  }
  void notify() { timer_.cancel(); }

private:
  asio::steady_timer timer_;
};

} // namespace echo
