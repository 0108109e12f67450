#pragma once

#include "echo/client/bench/bench_run.hpp"

#include <boost/asio/awaitable.hpp>

namespace echo {

// Shows the run's progress on stderr once a second until cancelled: one
// updating line on a terminal (erased at the end); plain lines when stderr
// is not a terminal only with --progress, else nothing (it still waits to
// be cancelled).
boost::asio::awaitable<void> show_progress(const bench_run& run);

// Erases the progress line on a terminal, so the report starts on a clean
// line. Call once show_progress() has ended.
void end_progress_line();

} // namespace echo
