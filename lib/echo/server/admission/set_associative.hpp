#pragma once

#include <algorithm>
#include <span>

namespace echo {

// The look-up both per-source UDP tables (rate limiter, loop damper) make in
// their set of a few slots: the slot holding `key`, or else the one to reuse
// for it (a free one, or the one seen longest ago). `found` says which.
// Slot has `used`, `key`, and `last` (when it was last seen).
template <class Slot, class Key>
Slot& find_or_evict(std::span<Slot> set, const Key& key, bool& found) {
  const auto hit = std::find_if(set.begin(), set.end(), [&](const Slot& s) { return s.used && s.key == key; });
  found = hit != set.end();
  if (found) return *hit;
  return *std::min_element(set.begin(), set.end(), [](const Slot& a, const Slot& b) {
    if (a.used != b.used) return !a.used;
    return a.last < b.last;
  });
}

} // namespace echo
