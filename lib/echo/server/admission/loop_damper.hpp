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
// A loop shows itself as a peer (address and port) that keeps sending back,
// at once, exactly what we just sent it. So for each peer we remember the
// last few datagrams we echoed to it (as fingerprints) and when; a datagram
// that repeats one of them within `reflection_window` of our last echo is a
// reflection, and after `max_reflections` of them in a row the peer is not
// answered until it sends something else, or waits. One echo of a loop is
// then the last: the loop dies within about ten round trips.
//
// A client sending the same payload again only after the window (a health
// check every second) is never affected; one that sends the same payload
// back-to-back from one socket, as fast as replies come, looks exactly like
// a loop and gets `max_reflections` + 1 echoes in a row.
//
// The peers live in a fixed set-associative table keyed by a keyed hash,
// like the rate limiter's: bounded memory, no chosen collisions. Used by one
// coroutine at a time; not thread-safe.
class loop_damper {
public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t ways = 4;
  static constexpr std::size_t remembered = 16; // datagrams remembered per peer
  static constexpr unsigned max_reflections = 8;
  static constexpr auto reflection_window = std::chrono::milliseconds(500);

  explicit loop_damper(std::size_t sets = 1024, keyed_hash hash = keyed_hash::random());

  // True to echo `datagram` to `peer`; false when it continues a loop.
  bool allow(const boost::asio::ip::udp::endpoint& peer, std::span<const std::byte> datagram,
             clock::time_point now = clock::now());

  std::size_t capacity() const noexcept { return slots_.size(); }

private:
  struct slot {
    std::array<unsigned char, 18> key{}; // address (IPv4 mapped) and port
    bool used = false;
    std::uint8_t next = 0;    // where the next fingerprint goes
    std::uint16_t streak = 0; // reflections in a row
    std::array<std::uint32_t, remembered> sent{};
    clock::time_point last{}; // our last echo to it
  };

  std::uint32_t fingerprint(std::span<const std::byte> datagram) const noexcept;

  keyed_hash hash_;
  std::size_t set_mask_;
  std::vector<slot> slots_;
};

} // namespace echo
