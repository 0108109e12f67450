#pragma once

#include "echo/server/admission/keyed_hash.hpp"

#include <boost/asio/ip/address.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

namespace echo {

// Token buckets per source address in a table of fixed size: a flood of
// spoofed addresses evicts old entries instead of growing memory. The table
// is set-associative: a keyed hash (a random key per table, so nobody can
// pick addresses that share a victim's set) chooses a set of `ways` slots,
// and a miss evicts the slot seen longest ago, so a source that keeps
// sending stays. A source new to the table, or back after an eviction,
// starts with a few tokens (8), not a full bucket: forcing evictions earns
// next to nothing.
// A bucket fills at `rate` a second up to `burst`.
// Used by one coroutine at a time; not thread-safe.
class rate_limiter {
public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t ways = 4;

  // rate: tokens per second (0 = unlimited); burst: bucket size;
  // sets: table size in sets (rounded up to a power of two); hash: the
  // table's keyed hash (a random key unless a test gives one).
  rate_limiter(std::uint32_t rate, std::uint32_t burst, std::size_t sets = 4096,
               keyed_hash hash = keyed_hash::random());

  // Takes one token for `source` if it has one.
  bool allow(const boost::asio::ip::address& source, clock::time_point now = clock::now());

  std::size_t capacity() const noexcept { return slots_.size(); }
  std::size_t tracked() const noexcept;
  // Which set `source` belongs to (for tests: it depends on the hash key).
  std::size_t set_of(const boost::asio::ip::address& source) const noexcept;

private:
  struct slot {
    std::array<unsigned char, 16> key{};
    bool used = false;
    double tokens = 0;
    clock::time_point last{};
  };

  double rate_;
  double burst_;
  keyed_hash hash_;
  std::size_t set_mask_;
  std::vector<slot> slots_;
};

} // namespace echo
