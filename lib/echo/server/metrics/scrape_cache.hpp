#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace echo {

// The last rendered /metrics text, and when to render it again. Rendering
// costs tens of microseconds (every family built, /proc/self read, all of it
// serialised), so a client asking back to back, or many clients at once,
// could take the server's thread from echo. Fresh renders are budgeted by a
// token bucket: `fresh_burst` at once, then `fresh_per_second`. A scrape
// within the budget is rendered when it asks, so Prometheus (a scrape every
// few seconds) and tests always see the counters as they are; one past it
// gets the last render, which is then less than 1 / fresh_per_second old
// (had the last render been longer ago, a token would have come back since).
class scrape_cache {
public:
  using clock = std::chrono::steady_clock;
  static constexpr int fresh_per_second = 10;
  static constexpr int fresh_burst = 10;

  // The text to answer with at `now`: `render()` afresh while the budget
  // allows (or before any render), else the last one.
  template <class Render>
  std::shared_ptr<const std::string> text(clock::time_point now, Render&& render) {
    const bool fresh = take_token(now);
    if (fresh || !last_) last_ = std::make_shared<const std::string>(render());
    return last_;
  }

  // One fresh render's worth of budget at `now`, taken if there is one.
  bool take_token(clock::time_point now);

private:
  std::shared_ptr<const std::string> last_;
  double tokens_ = fresh_burst;
  clock::time_point refilled_{};
};

} // namespace echo
