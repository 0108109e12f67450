#include "echo/server/loop_damper.hpp"

#include "echo/server/address_key.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace echo {
namespace {

// The bytes of a fingerprint: enough to tell one datagram from the next,
// few enough to cost little per datagram.
constexpr std::size_t fingerprinted_bytes = 64;

std::array<unsigned char, 18> key_of(const boost::asio::ip::udp::endpoint& peer) {
  const auto bytes = address_key(peer.address());
  std::array<unsigned char, 18> key{};
  std::memcpy(key.data(), bytes.data(), bytes.size());
  key[16] = static_cast<unsigned char>(peer.port() >> 8);
  key[17] = static_cast<unsigned char>(peer.port() & 0xff);
  return key;
}

} // namespace

loop_damper::loop_damper(std::size_t sets, keyed_hash hash)
    : hash_(hash), set_mask_(std::bit_ceil(std::max<std::size_t>(sets, 1)) - 1), slots_((set_mask_ + 1) * ways) {}

std::uint32_t loop_damper::fingerprint(std::span<const std::byte> datagram) const noexcept {
  const auto h = hash_(datagram.first(std::min(datagram.size(), fingerprinted_bytes)));
  return static_cast<std::uint32_t>(h ^ (h >> 32)) ^ static_cast<std::uint32_t>(datagram.size() * 0x9e3779b1u);
}

bool loop_damper::allow(const boost::asio::ip::udp::endpoint& peer, std::span<const std::byte> datagram,
                        clock::time_point now) {
  const auto key = key_of(peer);
  const auto set = static_cast<std::size_t>(hash_(std::as_bytes(std::span(key)))) & set_mask_;
  const auto first = slots_.begin() + static_cast<std::ptrdiff_t>(set * ways);
  const auto last = first + ways;
  const auto print = fingerprint(datagram);

  auto found = std::find_if(first, last, [&](const slot& s) { return s.used && s.key == key; });
  if (found == last) {
    found = std::min_element(first, last, [](const slot& a, const slot& b) {
      if (a.used != b.used) return !a.used;
      return a.last_echo < b.last_echo;
    });
    *found = slot{};
    found->key = key;
    found->used = true;
  } else {
    const bool quick = now - found->last_echo < reflection_window;
    const bool ours = std::find(found->sent.begin(), found->sent.end(), print) != found->sent.end();
    if (quick && ours) {
      if (found->streak < UINT16_MAX) ++found->streak;
      if (found->streak > max_reflections) return false; // not answered: nothing more to reflect
    } else {
      found->streak = 0;
    }
  }
  found->sent[found->next] = print;
  found->next = static_cast<std::uint8_t>((found->next + 1) % remembered);
  found->last_echo = now;
  return true;
}

} // namespace echo
