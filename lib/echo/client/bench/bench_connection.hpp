#pragma once

#include "echo/client/bench/bench_run.hpp"
#include "echo/common/asio.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/steady_timer.hpp>

#include <exception>
#include <functional>

namespace echo {

// The connections' hot path awaits `op(..., deferred_nothrow)`: the results
// of `nothrow`, but awaited in the calling coroutine's own frame. `nothrow`
// (use_awaitable) makes a coroutine frame per operation, taken from a cache
// of two blocks a thread that two connections already outgrow: every
// message then allocated.
inline constexpr auto deferred_nothrow = asio::as_tuple(asio::deferred);

// What TCP and UDP load generator connections share: the socket, the event
// that wakes the writer when a slot in the pipeline frees up, the schedule
// with --rate, and failure. Each connection runs a few coroutines on the
// socket's executor; each reports its end to the `done` handler given to
// start().
template <class Socket>
class bench_connection {
public:
  using clock = bench_run::clock;
  using completion = std::function<void(std::exception_ptr)>;

  bench_connection(bench_run& run, Socket socket)
      : run_(run), socket_(std::move(socket)), slot_free_{asio::steady_timer(socket_.get_executor())},
        pace_(socket_.get_executor()), interval_(run.interval()) {}

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
  // Called by start(), once run_.start is set.
  void start_schedule() {
    if (paced()) schedule_ = run_.schedule();
  }

  // With --rate, whether the writer must first wait on pace_ until its
  // next slot, schedule_.next_due().
  bool must_wait_for_slot() const { return paced() && schedule_.next_due() > clock::now(); }

  // The times of a message sent `now`. With --rate it takes the slot the
  // schedule gives it, and a late send or skipped slots are counted.
  bench_run::send_times stamp(clock::time_point now) {
    if (!paced()) return {now, now, 0};
    const auto slot = schedule_.take(now);
    if (slot.late) ++run_.report.late;
    run_.report.skipped += slot.skipped;
    return {slot.due, now, slot.skipped};
  }

  // The writer is done: with --rate, the slots that came due before the
  // run stopped sending and were never sent are skipped too (not in the
  // latency: no message took their place). A failed connection skips none:
  // its error is counted.
  void stop_schedule() {
    if (paced() && !failed_ && run_.stopped_sending > run_.start)
      run_.report.skipped += schedule_.skip_until(run_.stopped_sending);
  }

  bool paced() const { return interval_ != clock::duration::zero(); }

  void fail() {
    if (!failed_) ++run_.report.errors;
    failed_ = true;
    stop();
  }

  bench_run& run_;
  Socket socket_;
  // Wakes the writer when a message of its pipeline is answered: a timer
  // that never expires by itself, cancelled to wake the waiter (wake_event,
  // without its coroutine frame per wait).
  struct wake_timer {
    asio::steady_timer timer;
    auto wait() {
      timer.expires_at(clock::time_point::max());
      return timer.async_wait(deferred_nothrow);
    }
    void notify() { timer.cancel(); }
  };

  wake_timer slot_free_;
  asio::steady_timer pace_;
  const clock::duration interval_; // computed once: zero when not paced
  send_schedule schedule_;         // with --rate
  std::uint64_t verified_ = 0;
  bool failed_ = false;
};

} // namespace echo
