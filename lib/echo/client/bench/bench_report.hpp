#pragma once

#include "echo/client/bench/latency_histogram.hpp"
#include "echo/client/config/client_config.hpp"

#include <cstdint>
#include <string>

namespace echo {

// What a load generator run measured.
struct bench_report {
  transport protocol = transport::tcp;
  bool tls = false;         // TCP over TLS
  bool churn = false;       // --churn: a new connection per request
  double setup_seconds = 0; // opening every connection (connect, PROXY header, TLS handshake), one after another
  std::size_t connections = 0;
  std::size_t size = 0;
  std::size_t pipeline = 0;
  double seconds = 0;
  std::uint64_t requests = 0; // echoes received whole and verified
  std::uint64_t bytes = 0;    // echoed bytes received
  std::uint64_t errors = 0;   // connections that failed
  std::uint64_t mismatches = 0;
  std::uint64_t lost = 0;             // UDP: no reply within the timeout
  std::size_t connections_echoed = 0; // connections with at least one verified echo
  latency_histogram latency;          // nanoseconds

  double requests_per_second() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
  double megabytes_per_second() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0; }
};

// The report for people (several lines) and for programs (one JSON object).
std::string format_text(const bench_report& report);
std::string format_json(const bench_report& report);

// "850.3us", "12.4ms": a latency as people read it.
std::string latency_text(std::uint64_t nanoseconds);

} // namespace echo
