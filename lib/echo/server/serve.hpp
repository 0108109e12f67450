#pragma once

#include "echo/server/server_config.hpp"

#include <spdlog/logger.h>

#include <memory>

namespace echo {

// Runs echo-server as a process: the io_context on --threads threads, the
// server on it, and signals (SIGINT or SIGTERM stops gracefully, a second one
// exits at once). Returns the process exit code: 0 after a clean stop, 1
// when an endpoint cannot be bound.
int serve(const server_config& config, std::shared_ptr<spdlog::logger> log);

} // namespace echo
