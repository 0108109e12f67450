#include "echo/server/rate_limiter.hpp"

#include <algorithm>
#include <bit>

namespace echo {
namespace {

// IPv4 and IPv4-mapped IPv6 share one key, so a dual-stack socket counts a
// v4 client once however it is spelled.
std::array<unsigned char, 16> key_of(const boost::asio::ip::address& address) {
  if (address.is_v4()) return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, address.to_v4()).to_bytes();
  return address.to_v6().to_bytes();
}

std::size_t hash_of(const std::array<unsigned char, 16>& key) {
  std::uint64_t h = 1469598103934665603ull; // FNV-1a
  for (const auto byte : key) h = (h ^ byte) * 1099511628211ull;
  return static_cast<std::size_t>(h ^ (h >> 29));
}

} // namespace

rate_limiter::rate_limiter(std::uint32_t rate, std::uint32_t burst, std::size_t sets)
    : rate_(rate), burst_(std::max<std::uint32_t>(burst, 1)),
      set_mask_(std::bit_ceil(std::max<std::size_t>(sets, 1)) - 1), slots_(rate == 0 ? 0 : (set_mask_ + 1) * ways) {}

bool rate_limiter::allow(const boost::asio::ip::address& source, clock::time_point now) {
  if (rate_ == 0) return true;
  const auto key = key_of(source);
  const auto first = slots_.begin() + static_cast<std::ptrdiff_t>((hash_of(key) & set_mask_) * ways);
  const auto last = first + ways;

  auto found = std::find_if(first, last, [&](const slot& s) { return s.used && s.key == key; });
  if (found == last) {
    found = std::min_element(first, last, [](const slot& a, const slot& b) {
      if (a.used != b.used) return !a.used;
      return a.last < b.last;
    });
    *found = slot{key, true, burst_, now};
  } else {
    const std::chrono::duration<double> elapsed = now - found->last;
    found->tokens = std::min(burst_, found->tokens + elapsed.count() * rate_);
    found->last = now;
  }
  if (found->tokens < 1.0) return false;
  found->tokens -= 1.0;
  return true;
}

std::size_t rate_limiter::tracked() const noexcept {
  return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const slot& s) { return s.used; }));
}

} // namespace echo
