#include "echo/client/bench/bench_progress.hpp"

#include "echo/common/asio.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <unistd.h>

#include <iostream>
#include <sstream>

namespace echo {

asio::awaitable<void> show_progress(const bench_run& run) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  if (!terminal && !run.bench.progress) {
    // Not asked for, and stderr is a file or a pipe: often the same place
    // as stdout (`kubectl logs` of a Job pod, `> out 2>&1`), which must then
    // hold the report alone. Wait quietly to be cancelled: the run's end is
    // raced against this coroutine, which must not end first.
    timer.expires_at(bench_run::clock::time_point::max());
    co_await timer.async_wait(nothrow);
    co_return;
  }
  std::uint64_t previous = 0;
  auto tick = run.start;
  for (;;) {
    tick += std::chrono::seconds(1);
    timer.expires_at(tick);
    auto [ec] = co_await timer.async_wait(nothrow);
    if (ec) break;
    const auto elapsed = std::chrono::duration<double>(tick - run.start).count();
    std::ostringstream line;
    line.precision(0);
    line << std::fixed << "[" << elapsed << "s] " << run.report.requests << " requests, "
         << static_cast<double>(run.report.requests - previous) << " req/s, p99 "
         << latency_text(run.report.latency.quantile(0.99)) << ", errors " << run.report.errors << ", mismatches "
         << run.report.mismatches;
    if (run.config.protocol == transport::udp) line << ", lost " << run.report.lost;
    previous = run.report.requests;
    if (terminal)
      std::cerr << "\r\033[K" << line.str() << std::flush;
    else
      std::cerr << line.str() << '\n';
  }
}

void end_progress_line() {
  // Not at the end of show_progress(): it ends by cancellation, which may
  // leave it by an exception before any line after its loop runs.
  if (::isatty(STDERR_FILENO) == 1) std::cerr << "\r\033[K" << std::flush;
}

} // namespace echo
