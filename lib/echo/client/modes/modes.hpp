#pragma once

// The client's modes; each returns the exit code, or throws client_error
// with a one-line reason.

#include "echo/client/config/client_config.hpp"

#include <boost/asio/awaitable.hpp>
#include <spdlog/logger.h>

namespace echo {

// -m TEXT: send it, print the reply; with --check, exit 1 unless it matches.
boost::asio::awaitable<int> message_mode(const client_config& config, spdlog::logger& log);

// -z: does the port answer? TCP: a connection (and over TLS a handshake);
// UDP: the echo of an empty datagram. Prints nothing; exit 0 when it does.
boost::asio::awaitable<int> probe_mode(const client_config& config, spdlog::logger& log);

// stdin is a terminal: a prompt, a line, its reply.
boost::asio::awaitable<int> interactive_mode(const client_config& config, spdlog::logger& log);

// stdin is not a terminal: TCP copies both ways like nc; UDP sends each line
// as one datagram.
boost::asio::awaitable<int> pipe_mode(const client_config& config, spdlog::logger& log);

} // namespace echo
