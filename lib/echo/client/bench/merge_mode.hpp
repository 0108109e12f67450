#pragma once

#include "echo/client/config/client_config.hpp"

#include <boost/asio/awaitable.hpp>

namespace echo {

// --merge FILE... [--json]: reads the reports, prints the merged one on
// stdout. Returns 0, or 1 when any report had errors or mismatches; throws
// usage_error (exit 2) for a file that is not a report or reports of
// different runs. No network: a coroutine only so that it is dispatched,
// and its failures reported, like every other mode.
boost::asio::awaitable<int> merge_mode(const client_config& config);

} // namespace echo
