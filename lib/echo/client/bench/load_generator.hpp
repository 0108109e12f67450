#pragma once

#include "echo/client/bench/bench_run.hpp"
#include "echo/client/config/client_config.hpp"
#include "echo/client/connection/client_stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <spdlog/logger.h>

#include <memory>
#include <optional>

namespace echo {

// echo-client --bench: N connections (UDP: sockets) keep `pipeline` messages
// of `size` bytes in flight for `duration`, verify every echoed byte and
// record each round trip's latency. Prints progress once a second on stderr
// (on a terminal, or with --progress) and the report on stdout. Returns the
// exit code: 0, or 1 after errors or mismatches, or when nothing was echoed.
boost::asio::awaitable<int> run_load_generator(const client_config& config, spdlog::logger& log);

// One load generator connection to `target`, from the --source address for
// `index` (round robin): connected within the timeout, with the PROXY header
// and, with `tls`, the handshake done. Nothing when it failed (counted in
// the report; the first failure is logged).
boost::asio::awaitable<std::optional<client_stream>>
open_bench_stream(bench_run& run, const boost::asio::ip::tcp::endpoint& target, std::size_t index,
                  const std::shared_ptr<boost::asio::ssl::context>& tls, spdlog::logger& log);

} // namespace echo
