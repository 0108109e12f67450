#pragma once

// The Asio names every coroutine in this code base uses, in one place.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace echo {

namespace asio = boost::asio;
using boost::system::error_code;

// The completion token for `co_await op(..., nothrow)`: errors come back as
// values (`auto [ec, n] = ...`), because eof, reset and cancellation are how
// connections normally end, not exceptions.
inline constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

} // namespace echo
