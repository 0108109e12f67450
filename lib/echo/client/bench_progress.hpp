#pragma once

#include "echo/client/bench_run.hpp"

#include <boost/asio/awaitable.hpp>

namespace echo {

// Shows the run's progress on stderr once a second until cancelled: one
// updating line on a terminal (erased at the end), plain lines otherwise.
boost::asio::awaitable<void> show_progress(const bench_run& run);

} // namespace echo
