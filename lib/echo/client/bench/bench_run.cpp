#include "echo/client/bench/bench_run.hpp"

#include <algorithm>
#include <chrono>

namespace echo {

namespace {

// --rate R over N connections: each connection sends every N / R seconds.
// Up to about 11 days between sends, so that every due time fits the clock.
bench_run::clock::duration interval_of(const bench_config& b) {
  if (b.rate <= 0) return bench_run::clock::duration::zero();
  const double seconds = std::min(static_cast<double>(b.connections) / b.rate, 1e6);
  return std::max<bench_run::clock::duration>(
      std::chrono::duration_cast<bench_run::clock::duration>(std::chrono::duration<double>(seconds)),
      bench_run::clock::duration(1));
}

} // namespace

bench_run::bench_run(const client_config& c, const bench_config& b)
    : config(c), bench(b), pattern(b.size + pattern_shift), interval_(interval_of(b)) {
  for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<std::byte>((i * 7 + i / 251) & 0xff);
  report.protocol = c.protocol;
  report.connections = b.connections;
  report.size = b.size;
  report.pipeline = b.pipeline;
  report.model = paced() ? bench_report::load_model::open_loop : bench_report::load_model::closed_loop;
  report.rate = paced() ? b.rate : 0;
}

} // namespace echo
