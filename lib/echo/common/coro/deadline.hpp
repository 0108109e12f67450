#pragma once

#include "echo/common/asio.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>

namespace echo {

// Runs `op` with a deadline: true when it finished, false when time ran out
// (the operation is then cancelled). Asio's timeout_watchdog pattern.
inline asio::awaitable<bool> finished_within(std::chrono::steady_clock::duration limit, asio::awaitable<void> op) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  const auto outcome = co_await (std::move(op) || timer.async_wait(asio::use_awaitable));
  co_return outcome.index() == 0;
}

} // namespace echo
