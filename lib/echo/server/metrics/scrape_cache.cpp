#include "echo/server/metrics/scrape_cache.hpp"

#include <algorithm>

namespace echo {

bool scrape_cache::take_token(clock::time_point now) {
  if (refilled_ != clock::time_point{}) {
    const std::chrono::duration<double> since = now - refilled_;
    tokens_ = std::min<double>(fresh_burst, tokens_ + std::max(0.0, since.count()) * fresh_per_second);
  }
  refilled_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

} // namespace echo
