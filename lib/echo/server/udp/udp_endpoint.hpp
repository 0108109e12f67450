#pragma once

#include "echo/common/warning_throttle.hpp"
#include "echo/server/admission/udp_admission.hpp"
#include "echo/server/metrics/server_stats.hpp"
#include "echo/server/reactor/when_ready.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/udp.hpp>
#include <spdlog/logger.h>

#include <sys/socket.h>

#include <array>
#include <memory>
#include <span>

namespace echo {

// UDP echo (RFC 862): each datagram goes back to its sender as one datagram,
// unchanged, the empty one included. Dropped and counted instead: datagrams
// larger than max_datagram or truncated on arrival, datagrams from a blocked
// source port (loop and reflection guard), and a source's excess over its
// rate limit. One coroutine owns the socket and its receive buffers.
//
// Datagrams are taken and echoed in batches, as many system calls fewer:
// one recvmmsg() takes up to a batch of what is queued, inside a reactor
// operation that waits without an epoll re-arm (when_ready.hpp), every
// datagram goes through the same checks one by one, and the
// echoes of the batch leave in one sendmmsg(). A send that would block waits
// for room and goes on where it stopped; a datagram that cannot be sent is
// counted (send_failed) and the rest still go.
//
// On a socket bound to a wildcard address (the default, "::"), each echo is
// sent from the address its datagram was sent to: a client that wrote to one
// of several addresses of the host hears back from that one, which a
// connected socket, a NAT or a stateful firewall requires.
class udp_endpoint {
public:
  udp_endpoint(boost::asio::ip::udp::socket socket, udp_admission_settings settings, server_stats& stats,
               spdlog::logger& log);

  boost::asio::ip::udp::endpoint local_endpoint() const;
  boost::asio::awaitable<void> run();
  // Call on the executor run() uses.
  void close();

  // Datagrams received (and echoes sent) per system call at most.
  static constexpr std::size_t batch_size = 32;

private:
  // True when a received datagram is to be echoed; else it was dropped and
  // counted (too large or truncated, blocked port, echo loop, rate limit:
  // udp_admission decides).
  bool admit(std::span<const std::byte> datagram, std::size_t real_size, const boost::asio::ip::udp::endpoint& sender);
  // Takes what is queued, up to a batch, into the slots: one recvmmsg(),
  // called by the reactor (async_when_ready). Fewer datagrams than asked
  // for means nothing else is queued: the socket is drained.
  read_result receive_batch();
  // Checks every datagram of slots [0, count) and echoes those admitted.
  boost::asio::awaitable<void> echo_batch(std::size_t count);
  // Sets reply `r`'s source address to where slot `slot`'s datagram was sent.
  void answer_from_destination(std::size_t slot, std::size_t r);
  void count_sent(std::size_t bytes);
  void drop(counter_id counter, const char* why, std::size_t size, const boost::asio::ip::udp::endpoint& sender);

  // One batch: receive buffers and the system calls' headers. Each slot
  // receives into two parts: its first `small_bytes` go to one dense array
  // shared by all slots (so a batch of small datagrams stays in a few cache
  // lines and pages), the rest to a large buffer of its own, whose first
  // `small_bytes` are kept free: a large datagram's head is copied there to
  // make it contiguous.
  static constexpr std::size_t small_bytes = 2048;
  static constexpr std::size_t control_bytes = 96; // room for an in6_pktinfo and an in_pktinfo message
  struct batch_state {
    std::unique_ptr<std::byte[]> small; // batch_size x small_bytes
    std::unique_ptr<std::byte[]> large; // batch_size x receive buffer size, untouched until used
    std::array<boost::asio::ip::udp::endpoint, batch_size> senders;
    std::array<std::size_t, batch_size> sizes{}; // real sizes (MSG_TRUNC)
    std::array<mmsghdr, batch_size> received{};
    std::array<std::array<iovec, 2>, batch_size> received_iov{};
    std::array<mmsghdr, batch_size> replies{};
    std::array<std::array<iovec, 2>, batch_size> reply_iov{};
    std::array<std::size_t, batch_size> reply_slot{}; // which slot each reply echoes
    // With answer_from_destination_: where each datagram was sent to, as the
    // kernel reports it, and the source address each echo is sent from.
    std::array<std::array<std::byte, control_bytes>, batch_size> received_control{};
    std::array<std::array<std::byte, control_bytes>, batch_size> reply_control{};
  };
  // Slot i's datagram, contiguous (its head moved next to its tail if it
  // was larger than small_bytes).
  std::span<const std::byte> datagram_in(std::size_t slot);

  boost::asio::ip::udp::socket socket_;
  udp_admission admission_;
  server_stats& stats_;
  spdlog::logger& log_;
  warning_throttle drop_warning_;
  std::unique_ptr<batch_state> batch_;
  // Bound to a wildcard address: each echo leaves from the address its
  // datagram was sent to (IP_PKTINFO / IPV6_PKTINFO), not from whichever
  // address the route to the client would pick.
  bool answer_from_destination_ = false;
};

} // namespace echo
