#pragma once

#include "echo/client/config/client_config.hpp"

#include <spdlog/logger.h>

namespace echo {

// Runs echo-client in the mode the configuration selects (interactive,
// pipe, -m, --bench, --merge) on one io_context; returns the exit code, that
// of a failure as exit_codes.hpp maps it (its message on stderr).
int run_client(const client_config& config, spdlog::logger& log);

} // namespace echo
