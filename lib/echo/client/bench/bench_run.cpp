#include "echo/client/bench/bench_run.hpp"

namespace echo {

bench_run::bench_run(const client_config& c, const bench_config& b)
    : config(c), bench(b), pattern(b.size + pattern_shift) {
  for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::byte>((i * 7 + i / 251) & 0xff);
  report.protocol = c.protocol;
  report.connections = b.connections;
  report.size = b.size;
  report.pipeline = b.pipeline;
}

bench_run::clock::duration bench_run::interval() const {
  if (bench.rate <= 0) return clock::duration::zero();
  const double per_connection = bench.rate / static_cast<double>(bench.connections);
  return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / per_connection));
}

} // namespace echo
