#pragma once

#include <chrono>
#include <cstdint>

namespace echo {

// With --rate, the sends one connection intends, whether or not the server
// keeps up (an open loop): slot k is due at origin + k * interval. The
// writer takes the next slot when the slot is due and its pipeline has room;
// take() then says which slot the send stands for, by one rule:
//
// - A slot that is still unsent when the slot after it comes due is
//   *skipped*: it is never sent. So a connection that fell behind (a server
//   that stalled while the whole pipeline waited for it) does not catch up
//   with a burst: its next send takes the newest due slot, and every older
//   unsent one is skipped.
// - A send more than `tolerance` after its slot's due time is *late*. As a
//   send is never a whole interval behind its slot, a connection with an
//   interval of `tolerance` or less is never late, only skipping.
//
// Latency is measured from the due time of the slot a send took. A skipped
// slot has no message of its own; its latency is counted from its own due
// time when the echo of the send that took its place comes back (see
// bench_run::completed): for a user who arrived on schedule, that is when
// the answer came.
class send_schedule {
public:
  using clock = std::chrono::steady_clock;
  static constexpr clock::duration tolerance = std::chrono::milliseconds(1);

  struct slot {
    std::uint64_t index = 0;
    clock::time_point due{};
    std::uint64_t skipped = 0; // slots before this one given up
    bool late = false;
  };

  send_schedule() = default;
  // `interval` is positive.
  send_schedule(clock::time_point origin, clock::duration interval) : origin_(origin), interval_(interval) {}

  clock::time_point due(std::uint64_t index) const { return origin_ + interval_ * static_cast<clock::rep>(index); }
  // When the next send may go: the writer waits until then.
  clock::time_point next_due() const { return due(next_); }

  // The slot a send at `now` takes; `now` is normally at or after next_due()
  // (before it, the send is early and takes the next slot all the same).
  slot take(clock::time_point now) {
    slot s{next_, due(next_), 0, false};
    if (now > s.due) {
      s.skipped = intervals_behind(now);
      s.index += s.skipped;
      s.due = due(s.index);
      s.late = now - s.due > tolerance;
    }
    next_ = s.index + 1;
    return s;
  }

  // Sending stopped at `end`: skips the slots that came due before it by
  // the rule above (all unsent due ones but the newest, which the send under
  // way at the end may have been about to take). Returns how many.
  std::uint64_t skip_until(clock::time_point end) {
    const auto skipped = intervals_behind(end);
    next_ += skipped;
    return skipped;
  }

private:
  // Whole intervals from the next slot's due time to `now`: how many slots
  // from the next one on have a later slot also due by then.
  std::uint64_t intervals_behind(clock::time_point now) const {
    const auto next = next_due();
    return now > next ? static_cast<std::uint64_t>((now - next) / interval_) : 0;
  }

  clock::time_point origin_{};
  clock::duration interval_{1};
  std::uint64_t next_ = 0;
};

} // namespace echo
