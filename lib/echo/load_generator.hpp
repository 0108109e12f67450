#pragma once

#include "echo/client_config.hpp"
#include "echo/latency_histogram.hpp"

#include <boost/asio/awaitable.hpp>
#include <spdlog/logger.h>

#include <cstdint>
#include <string>

namespace echo {

struct bench_report {
  transport protocol = transport::tcp;
  std::size_t connections = 0;
  std::size_t size = 0;
  std::size_t pipeline = 0;
  double seconds = 0;
  std::uint64_t requests = 0; // echoes received whole and verified
  std::uint64_t bytes = 0;    // echoed bytes received
  std::uint64_t errors = 0;   // connections that failed
  std::uint64_t mismatches = 0;
  std::uint64_t lost = 0;     // UDP: no reply within the timeout
  std::size_t connections_echoed = 0; // connections with at least one verified echo
  latency_histogram latency;  // nanoseconds

  double requests_per_second() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
  double megabytes_per_second() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0; }
};

std::string format_text(const bench_report& report);
std::string format_json(const bench_report& report);

// echo-client --bench: N connections (UDP: sockets) keep `pipeline` messages
// of `size` bytes in flight for `duration`, verify every echoed byte and
// record each round trip's latency. Prints progress once a second on stderr
// and the report on stdout. Returns the exit code: 0, or 1 after errors or
// mismatches, or when nothing was echoed.
boost::asio::awaitable<int> run_load_generator(const client_config& config, spdlog::logger& log);

} // namespace echo
