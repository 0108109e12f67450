#pragma once

#include "echo/client/client_config.hpp"

#include <spdlog/logger.h>

namespace echo {

// Runs echo-client in the mode the configuration selects (interactive,
// pipe, -m, --bench) on one io_context; returns the exit code.
int run_client(const client_config& config, spdlog::logger& log);

} // namespace echo
