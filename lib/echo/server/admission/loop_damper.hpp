#pragma once

#include "echo/server/admission/keyed_hash.hpp"

#include <boost/asio/ip/udp.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

namespace echo {

// Stops a UDP echo loop: two echo services answering each other forever
// after one spoofed datagram, even on ports no block list covers.
//
// What tells a loop from a client is its timing. An echo service answers
// at once: each datagram of a loop comes back one network round trip after
// our echo of it, sub-millisecond on a LAN, again and again, unchanged. A
// client that repeats itself (a poll, a health check, a pipe of identical
// lines) either waits a while between requests or stops after a few.
//
// So for each peer (address and port) we remember the last datagrams we
// echoed to it, and when we last did. A datagram that repeats one of them
// within `reflection_window` of our last echo continues a run of repeats
// (anything else ends it); the repeat is quick when it came within
// `reflection_gap`, the time an echo service next door takes to answer, and
// slow otherwise. A run that has lasted `loop_time` with at least
// `quick_per_slow` quick repeats for each slow one (plus one) is a loop: its
// repeats are not answered. Not answering ends the loop, since the other side
// only ever echoes what we send it. A loop that stalls now and then (a
// scheduler's hiccup on either side) is still one.
//
// A client that sends the same payload again only after `reflection_gap`
// (every 10 ms, or each time its answer came and it thought for a moment)
// makes slow repeats and is never affected; neither is a burst of identical
// requests shorter than `loop_time`. A client streaming identical datagrams
// back-to-back for longer looks exactly like a loop: it loses them until it
// pauses for `reflection_window` or sends something else. A loop whose round
// trip is longer than `reflection_gap` (an echo service far away) is not
// recognised; the rate limit bounds it instead.
//
// The peers live in a fixed set-associative table keyed by a keyed hash,
// like the rate limiter's: bounded memory, no chosen collisions, nothing
// allocated per datagram. Used by one coroutine at a time; not thread-safe.
class loop_damper {
public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t ways = 4;
  static constexpr std::size_t remembered = 16; // datagrams remembered per peer
  static constexpr auto reflection_gap = std::chrono::milliseconds(5);
  static constexpr auto reflection_window = std::chrono::milliseconds(500);
  static constexpr auto loop_time = std::chrono::milliseconds(250);
  static constexpr std::uint32_t quick_per_slow = 8;

  explicit loop_damper(std::size_t sets = 1024, keyed_hash hash = keyed_hash::random());

  // True to echo `datagram` to `peer`; false when it continues a loop.
  bool allow(const boost::asio::ip::udp::endpoint& peer, std::span<const std::byte> datagram,
             clock::time_point now = clock::now());

  std::size_t capacity() const noexcept { return slots_.size(); }

private:
  struct slot {
    std::array<unsigned char, 18> key{}; // address (IPv4 mapped) and port
    bool used = false;
    bool in_run = false;   // a run of repeats is under way
    std::uint8_t next = 0; // where the next fingerprint goes
    std::uint32_t quick = 0;
    std::uint32_t slow = 0;
    std::array<std::uint32_t, remembered> sent{};
    clock::time_point last{};      // our last echo to it
    clock::time_point run_start{}; // the echo that the current run of repeats began with
  };

  std::uint32_t fingerprint(std::span<const std::byte> datagram) const noexcept;

  keyed_hash hash_;
  std::size_t set_mask_;
  std::vector<slot> slots_;
};

} // namespace echo
