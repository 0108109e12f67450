#pragma once

#include "echo/server/server_config.hpp"

#include <spdlog/logger.h>

#include <memory>

namespace echo {

// Runs echo-server as a process: the io_context on --threads threads, the
// server on it, and signals (SIGINT or SIGTERM stops gracefully, a second one
// exits at once). Returns exit_clean_stop after a clean stop; a failure to
// start throws (std::system_error naming the address, usage_error for a TLS
// file that cannot be used): describe_failure() says what it means.
int serve(const server_config& config, std::shared_ptr<spdlog::logger> log);

} // namespace echo
