#pragma once

#include "echo/client/client_config.hpp"

#include <boost/asio/awaitable.hpp>
#include <spdlog/logger.h>

namespace echo {

// echo-client --bench: N connections (UDP: sockets) keep `pipeline` messages
// of `size` bytes in flight for `duration`, verify every echoed byte and
// record each round trip's latency. Prints progress once a second on stderr
// and the report on stdout. Returns the exit code: 0, or 1 after errors or
// mismatches, or when nothing was echoed.
boost::asio::awaitable<int> run_load_generator(const client_config& config, spdlog::logger& log);

} // namespace echo
