#pragma once

#include "echo/client/config/client_config.hpp"
#include "echo/client/modes/console_io.hpp"

#include <boost/asio/awaitable.hpp>

namespace echo {

// Who types the lines: a pipe's are read as they come; a terminal gets a
// banner, a prompt for each line (q or quit leaves) and a hint after a loss.
enum class line_source { pipe, terminal };

// UDP, interactive or from a pipe: each line of stdin one datagram, each
// reply printed on its own line. A lost datagram is UDP's right: it is
// reported on stderr and the session goes on, but the exit code is then 1.
// A terminal's lines go one at a time; a pipe's, once an address has
// answered, in a window (udp_window), so lost replies cost one timeout in
// all, not one each.
boost::asio::awaitable<int> udp_lines(const client_config& config, stdin_reader& input, line_source source);

} // namespace echo
