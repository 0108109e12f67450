#include "echo/client/bench/bench_report.hpp"

#include <sstream>

namespace echo {

std::string latency_text(std::uint64_t ns) {
  std::ostringstream out;
  out.precision(ns >= 10'000'000 ? 0 : 1);
  if (ns >= 1'000'000)
    out << std::fixed << static_cast<double>(ns) / 1e6 << "ms";
  else
    out << std::fixed << static_cast<double>(ns) / 1e3 << "us";
  return out.str();
}

std::string format_text(const bench_report& r) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  const char* kind = r.protocol == transport::udp ? "udp" : r.tls ? "tcp over tls" : "tcp";
  out << kind << ", " << r.connections
      << (r.churn ? " worker(s) each connecting anew for every message" : " connection(s)") << ", " << r.size
      << " bytes, pipeline " << r.pipeline << ", " << r.seconds << " s\n"
      << "requests    " << r.requests << '\n'
      << "req/s       " << r.requests_per_second() << '\n'
      << "MB/s        " << r.megabytes_per_second() << '\n'
      << "latency     p50 " << latency_text(r.latency.quantile(0.5)) << "  p90 "
      << latency_text(r.latency.quantile(0.9)) << "  p99 " << latency_text(r.latency.quantile(0.99)) << "  p99.9 "
      << latency_text(r.latency.quantile(0.999)) << "  max " << latency_text(r.latency.max()) << '\n'
      << "echoed on   " << r.connections_echoed << " of " << r.connections << " connection(s)\n"
      << "errors      " << r.errors << '\n'
      << "mismatches  " << r.mismatches << '\n';
  if (r.protocol == transport::udp) out << "lost        " << r.lost << '\n';
  if (r.protocol == transport::tcp && r.setup_seconds > 0 && !r.churn) {
    out.precision(3);
    out << "setup       " << r.connections << " connection(s) opened one after another in " << r.setup_seconds << " s ("
        << static_cast<double>(r.connections) / r.setup_seconds << "/s" << (r.tls ? ", handshakes included" : "")
        << ")\n";
  }
  return out.str();
}

std::string format_json(const bench_report& r) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(3);
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  out << R"({"protocol":")" << (r.protocol == transport::tcp ? "tcp" : "udp") << R"(","connections":)" << r.connections
      << R"(,"size":)" << r.size << R"(,"pipeline":)" << r.pipeline << R"(,"seconds":)" << r.seconds
      << R"(,"requests":)" << r.requests << R"(,"req_per_s":)" << r.requests_per_second() << R"(,"mb_per_s":)"
      << r.megabytes_per_second() << R"(,"latency_us":{"p50":)" << us(r.latency.quantile(0.5)) << R"(,"p90":)"
      << us(r.latency.quantile(0.9)) << R"(,"p99":)" << us(r.latency.quantile(0.99)) << R"(,"p99_9":)"
      << us(r.latency.quantile(0.999)) << R"(,"max":)" << us(r.latency.max()) << R"(},"errors":)" << r.errors
      << R"(,"mismatches":)" << r.mismatches << R"(,"lost":)" << r.lost << R"(,"connections_echoed":)"
      << r.connections_echoed << R"(,"bytes":)" << r.bytes << R"(,"tls":)" << (r.tls ? "true" : "false")
      << R"(,"churn":)" << (r.churn ? "true" : "false") << R"(,"setup_seconds":)" << r.setup_seconds
      << R"(,"histogram":{"unit":"ns","min":)" << r.latency.min() << R"(,"max":)" << r.latency.max()
      << R"(,"buckets":[)";
  // Every non-empty bucket as [index, count]: enough to merge reports exactly.
  bool first = true;
  r.latency.for_each_bucket([&](std::size_t index, std::uint64_t count) {
    out << (first ? "" : ",") << '[' << index << ',' << count << ']';
    first = false;
  });
  out << "]}}\n";
  return out.str();
}

} // namespace echo
