#pragma once

#include "echo/client/config/client_config.hpp"

#include <boost/asio/awaitable.hpp>

namespace echo {

// --merge FILE... [--json] [--json-out FILE]: reads and checks the reports,
// prints the merged one on stdout (and with --json-out writes it as JSON to
// that file, whole or not at all). Returns 0, or 1 when any report had
// errors or mismatches; throws usage_error (exit 2) for a file that is not
// a sound report, reports of different runs or one report twice, and
// std::runtime_error (exit 1) when --json-out cannot be written. No
// network: a coroutine only so that it is dispatched, and its failures
// reported, like every other mode.
boost::asio::awaitable<int> merge_mode(const client_config& config);

} // namespace echo
