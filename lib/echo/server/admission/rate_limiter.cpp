#include "echo/server/admission/rate_limiter.hpp"

#include "echo/server/admission/address_key.hpp"
#include "echo/server/admission/set_associative.hpp"

#include <algorithm>
#include <bit>
#include <span>

namespace echo {
namespace {

// What a source new to the table (or back after an eviction) may send at
// once: a handful of datagrams, so a client's first few quick exchanges are
// answered, but nothing like a full burst. The rest it earns at the rate.
constexpr double first_allowance = 8.0;

} // namespace

rate_limiter::rate_limiter(std::uint32_t rate, std::uint32_t burst, std::size_t sets, keyed_hash hash)
    : rate_(rate), burst_(std::max<std::uint32_t>(burst, 1)), hash_(hash),
      set_mask_(std::bit_ceil(std::max<std::size_t>(sets, 1)) - 1), slots_(rate == 0 ? 0 : (set_mask_ + 1) * ways) {}

bool rate_limiter::allow(const boost::asio::ip::address& source, clock::time_point now) {
  if (rate_ == 0) return true;
  const auto key = address_key(source);
  bool tracked = false;
  auto& entry = find_or_evict(std::span(slots_).subspan(set_of(source) * ways, ways), key, tracked);
  if (!tracked) {
    entry = slot{key, true, std::min(first_allowance, burst_), now};
  } else {
    const std::chrono::duration<double> elapsed = now - entry.last;
    entry.tokens = std::min(burst_, entry.tokens + elapsed.count() * rate_);
    entry.last = now;
  }
  if (entry.tokens < 1.0) return false;
  entry.tokens -= 1.0;
  return true;
}

std::size_t rate_limiter::set_of(const boost::asio::ip::address& source) const noexcept {
  const auto key = address_key(source);
  return static_cast<std::size_t>(hash_(std::as_bytes(std::span(key)))) & set_mask_;
}

std::size_t rate_limiter::tracked() const noexcept {
  return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const slot& s) { return s.used; }));
}

} // namespace echo
