#pragma once

#include "echo/client/bench/bench_run.hpp"
#include "echo/common/asio.hpp"
#include "echo/common/coro/wake_event.hpp"

#include <boost/asio/steady_timer.hpp>

#include <exception>
#include <functional>

namespace echo {

// What TCP and UDP load generator connections share: the socket, the event
// that wakes the writer when a slot in the pipeline frees up, pacing, and
// failure. Each connection runs a few coroutines on the socket's executor;
// each reports its end to the `done` handler given to start().
template <class Socket>
class bench_connection {
public:
  using clock = bench_run::clock;
  using completion = std::function<void(std::exception_ptr)>;

  bench_connection(bench_run& run, Socket socket)
      : run_(run), socket_(std::move(socket)), slot_free_(socket_.get_executor()), pace_(socket_.get_executor()),
        interval_(run.interval()) {}

  // Ends the connection now: its coroutines finish with the socket closed.
  void stop() {
    error_code ignored;
    socket_.close(ignored);
    wake();
  }
  // Wakes a writer waiting for a free slot or for its next paced send, so it
  // sees that the run has stopped sending.
  void wake() {
    slot_free_.notify();
    pace_.cancel();
  }
  std::uint64_t verified() const { return verified_; }

protected:
  // When message k is due: now, or with --rate its slot in the schedule.
  clock::time_point due(std::uint64_t k) const {
    if (interval_ == clock::duration::zero()) return clock::now();
    return run_.start + interval_ * static_cast<clock::rep>(k);
  }

  // With --rate, waits until `when`; false if the run ended meanwhile.
  // Only paced runs come here, so unpaced sends cost no coroutine frame.
  asio::awaitable<bool> pace_until(clock::time_point when) {
    if (!run_.sending) co_return false;
    if (when <= clock::now()) co_return true;
    pace_.expires_at(when);
    co_await pace_.async_wait(nothrow);
    co_return run_.sending;
  }

  bool paced() const { return interval_ != clock::duration::zero(); }

  void fail() {
    if (!failed_) ++run_.report.errors;
    failed_ = true;
    stop();
  }

  bench_run& run_;
  Socket socket_;
  wake_event slot_free_;
  asio::steady_timer pace_;
  const clock::duration interval_; // computed once: zero when not paced
  std::uint64_t verified_ = 0;
  bool failed_ = false;
};

} // namespace echo
