#pragma once

#include "echo/client/config/client_config.hpp"
#include "echo/client/modes/console_io.hpp"
#include "echo/client/modes/udp_exchanger.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>

namespace echo {

// UDP pipe mode once an address has answered: the lines go out without
// waiting for each other's replies, so a lost reply costs one timeout in all
// rather than one per line. Each line is sent once the one before was
// answered, or `send_ahead` after it was sent (at most the timeout), with at
// most `max_in_flight` unanswered; paced by the replies, a pipe asks no more
// of the server than one line at a time would, until replies go missing.
// Each reply is printed as it comes; a line without one within the timeout is
// reported on stderr. Returns how many lines got no reply.
inline constexpr std::size_t max_in_flight = 64;
inline constexpr auto send_ahead = std::chrono::milliseconds(100);

boost::asio::awaitable<std::size_t> udp_window(const client_config& config, stdin_reader& input, udp_exchanger& udp);

} // namespace echo
