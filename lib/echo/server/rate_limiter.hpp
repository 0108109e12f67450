#pragma once

#include <boost/asio/ip/address.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

namespace echo {

// Token buckets per source address in a table of fixed size: a flood of
// spoofed addresses evicts old entries instead of growing memory. The table
// is set-associative (hash picks a set of `ways` slots; a miss evicts the
// slot seen longest ago). An evicted address starts again with a full bucket,
// which is the price of bounded memory; each bucket alone still holds its
// source to `rate` a second after its first `burst`.
// Used by one coroutine at a time; not thread-safe.
class rate_limiter {
public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t ways = 4;

  // rate: tokens per second (0 = unlimited); burst: bucket size;
  // sets: table size in sets (rounded up to a power of two).
  rate_limiter(std::uint32_t rate, std::uint32_t burst, std::size_t sets = 4096);

  // Takes one token for `source` if it has one.
  bool allow(const boost::asio::ip::address& source, clock::time_point now = clock::now());

  std::size_t capacity() const noexcept { return slots_.size(); }
  std::size_t tracked() const noexcept;

private:
  struct slot {
    std::array<unsigned char, 16> key{};
    bool used = false;
    double tokens = 0;
    clock::time_point last{};
  };

  double rate_;
  double burst_;
  std::size_t set_mask_;
  std::vector<slot> slots_;
};

} // namespace echo
