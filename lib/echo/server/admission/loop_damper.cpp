#include "echo/server/admission/loop_damper.hpp"

#include "echo/server/admission/address_key.hpp"
#include "echo/server/admission/set_associative.hpp"

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
  const auto print = fingerprint(datagram);

  bool known = false;
  auto& peer_slot = find_or_evict(std::span(slots_).subspan(set * ways, ways), key, known);
  if (!known) {
    peer_slot = slot{};
    peer_slot.key = key;
    peer_slot.used = true;
  } else {
    const auto gap = now - peer_slot.last;
    const bool ours = std::find(peer_slot.sent.begin(), peer_slot.sent.end(), print) != peer_slot.sent.end();
    if (ours && gap < reflection_window) {
      if (!peer_slot.in_run) {
        peer_slot.in_run = true;
        peer_slot.run_start = peer_slot.last;
        peer_slot.quick = peer_slot.slow = 0;
      }
      auto& count = gap < reflection_gap ? peer_slot.quick : peer_slot.slow;
      if (count < UINT32_MAX) ++count;
      // Not answered, and `last` stays: the loop has nothing left to
      // reflect, and a client taken for one is answered again once it
      // pauses for `reflection_window`.
      if (now - peer_slot.run_start >= loop_time && peer_slot.quick / quick_per_slow > peer_slot.slow) return false;
    } else {
      peer_slot.in_run = false;
    }
  }
  peer_slot.sent[peer_slot.next] = print;
  peer_slot.next = static_cast<std::uint8_t>((peer_slot.next + 1) % remembered);
  peer_slot.last = now;
  return true;
}

} // namespace echo
