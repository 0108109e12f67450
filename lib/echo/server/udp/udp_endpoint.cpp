#include "echo/server/udp/udp_endpoint.hpp"

#include "echo/common/asio.hpp"
#include "echo/common/net/endpoint_format.hpp"
#include "echo/server/sockets/control_messages.hpp"

#include <spdlog/spdlog.h> // SPDLOG_LOGGER_TRACE

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>

namespace echo {
namespace {

using asio::ip::udp;

// Larger than any UDP payload over IPv4 or IPv6 (without jumbograms).
constexpr std::size_t receive_buffer_size = 65536;

// MSG_TRUNC makes recvmsg return a datagram's real length even when it did
// not fit, so a truncated datagram is recognised and never echoed in part.
constexpr int report_real_length = MSG_TRUNC;

// The counter a dropped datagram goes to.
counter_id counter_of(udp_verdict verdict) {
  switch (verdict) {
  case udp_verdict::too_large:
    return "dropped_too_large";
  case udp_verdict::own_port:
  case udp_verdict::blocked_port:
    return "dropped_blocked_port";
  case udp_verdict::loop:
    return "dropped_loop";
  case udp_verdict::rate_limited:
  case udp_verdict::echo:
    break;
  }
  return "dropped_rate_limited";
}

} // namespace

udp_endpoint::udp_endpoint(udp::socket socket, udp_admission_settings settings, server_stats& stats,
                           spdlog::logger& log)
    : socket_(std::move(socket)), admission_(std::move(settings), socket_.local_endpoint().port()), stats_(stats),
      log_(log) {}

udp::endpoint udp_endpoint::local_endpoint() const { return socket_.local_endpoint(); }

void udp_endpoint::close() {
  error_code ignored;
  socket_.close(ignored);
}

void udp_endpoint::count_sent(std::size_t bytes) {
  stats_.add("datagrams_out");
  stats_.add("udp_bytes_out", bytes);
}

void udp_endpoint::drop(counter_id counter, const char* why, std::size_t size, const udp::endpoint& sender) {
  stats_.add(counter);
  if (drop_warning_.allow())
    log_.warn("dropped {}-byte datagram from {}: {} (dropped so far: {})", size, sender, why,
              describe_reasons(stats_, "echo_udp_dropped_datagrams_total"));
}

bool udp_endpoint::admit(std::span<const std::byte> datagram, std::size_t real_size, const udp::endpoint& sender) {
  stats_.add("datagrams_in");
  stats_.add("udp_bytes_in", real_size);
  SPDLOG_LOGGER_TRACE(&log_, "datagram of {} bytes from {}", real_size, sender);
  const auto verdict = admission_.check(datagram, real_size, sender);
  if (verdict == udp_verdict::echo) return true;
  drop(counter_of(verdict), describe(verdict), real_size, sender);
  return false;
}

read_result udp_endpoint::receive_batch() {
  auto& b = *batch_;
  for (std::size_t i = 0; i < batch_size; ++i) {
    b.received[i].msg_hdr.msg_name = b.senders[i].data();
    b.received[i].msg_hdr.msg_namelen = static_cast<socklen_t>(b.senders[i].capacity());
    if (answer_from_destination_) {
      b.received[i].msg_hdr.msg_control = b.received_control[i].data();
      b.received[i].msg_hdr.msg_controllen = control_bytes;
    }
  }
  int got = 0;
  do {
    got = ::recvmmsg(socket_.native_handle(), b.received.data(), static_cast<unsigned>(batch_size),
                     MSG_DONTWAIT | report_real_length, nullptr);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {}; // wait
    return {read_result::state::read, 0, error_code(errno, asio::error::get_system_category())};
  }
  const auto count = static_cast<std::size_t>(got);
  for (std::size_t i = 0; i < count; ++i) {
    b.senders[i].resize(b.received[i].msg_hdr.msg_namelen);
    b.sizes[i] = b.received[i].msg_len; // the real size: MSG_TRUNC
  }
  // A UDP socket's receive stops short of the batch only when its queue is
  // empty: then the next wait needs no try first (and no epoll re-arm).
  return {count < batch_size ? read_result::state::drained : read_result::state::read, count, {}};
}

std::span<const std::byte> udp_endpoint::datagram_in(std::size_t slot) {
  auto& b = *batch_;
  auto* const small = b.small.get() + slot * small_bytes;
  auto* const large = b.large.get() + slot * receive_buffer_size;
  const auto size = std::min(b.sizes[slot], receive_buffer_size);
  if (size <= small_bytes) return {small, size};
  std::memcpy(large, small, small_bytes);
  return {large, size};
}

void udp_endpoint::answer_from_destination(std::size_t slot, std::size_t r) {
  namespace cm = control_messages;
  auto& b = *batch_;
  const std::span<const std::byte> received(b.received_control[slot]);
  const auto used = b.received[slot].msg_hdr.msg_controllen;
  std::size_t length = 0;
  if (in_pktinfo v4{}; cm::find(received, used, IPPROTO_IP, IP_PKTINFO, v4)) {
    // IPv4 (on either socket): ipi_spec_dst is the address it was sent to,
    // or for a broadcast, the receiving interface's own address.
    in_pktinfo source{};
    source.ipi_spec_dst = v4.ipi_spec_dst;
    length = cm::put(std::span<std::byte>(b.reply_control[r]), IPPROTO_IP, IP_PKTINFO, source);
  } else if (in6_pktinfo v6{}; cm::find(received, used, IPPROTO_IPV6, IPV6_PKTINFO, v6)) {
    // The destination itself (IPv4-mapped for IPv4, should IP_PKTINFO be
    // missing; Linux takes that on send too). A multicast or broadcast
    // destination cannot be a source: the route picks one, as without this
    // option.
    const auto to = asio::ip::make_address_v6(std::bit_cast<asio::ip::address_v6::bytes_type>(v6.ipi6_addr));
    const auto v4_to = to.is_v4_mapped() ? asio::ip::make_address_v4(asio::ip::v4_mapped, to) : asio::ip::address_v4();
    const bool group = to.is_multicast() ||
                       (to.is_v4_mapped() && (v4_to.is_multicast() || v4_to == asio::ip::address_v4::broadcast()));
    if (!group) {
      in6_pktinfo source{};
      source.ipi6_addr = v6.ipi6_addr; // interface 0: the route chooses it
      length = cm::put(std::span<std::byte>(b.reply_control[r]), IPPROTO_IPV6, IPV6_PKTINFO, source);
    }
  }
  if (length == 0) return;
  b.replies[r].msg_hdr.msg_control = b.reply_control[r].data();
  b.replies[r].msg_hdr.msg_controllen = length;
}

asio::awaitable<void> udp_endpoint::echo_batch(std::size_t count) {
  auto& b = *batch_;
  std::size_t replies = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto datagram = datagram_in(i);
    if (!admit(datagram, b.sizes[i], b.senders[i])) continue;
    auto& reply = b.replies[replies];
    b.reply_iov[replies][0] = {const_cast<std::byte*>(datagram.data()), datagram.size()};
    reply.msg_hdr.msg_name = b.senders[i].data();
    reply.msg_hdr.msg_namelen = static_cast<socklen_t>(b.senders[i].size());
    reply.msg_hdr.msg_iov = b.reply_iov[replies].data();
    reply.msg_hdr.msg_iovlen = 1;
    reply.msg_hdr.msg_control = nullptr;
    reply.msg_hdr.msg_controllen = 0;
    if (answer_from_destination_) answer_from_destination(i, replies);
    b.reply_slot[replies] = i;
    ++replies;
  }
  // All of them in as few calls as the send buffer allows.
  for (std::size_t next = 0; next < replies;) {
    const int sent = ::sendmmsg(socket_.native_handle(), b.replies.data() + next, static_cast<unsigned>(replies - next),
                                MSG_DONTWAIT);
    if (sent > 0) {
      for (std::size_t j = next; j < next + static_cast<std::size_t>(sent); ++j) count_sent(b.replies[j].msg_len);
      next += static_cast<std::size_t>(sent);
      continue;
    }
    // The reply at `next` was not sent.
    const int error = sent < 0 ? errno : EAGAIN;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) {
      // The send buffer is full: wait for room rather than drop.
      stats_.add("udp_send_waits");
      auto [wait_ec] = co_await socket_.async_wait(udp::socket::wait_write, nothrow);
      if (wait_ec == asio::error::operation_aborted || !socket_.is_open()) co_return;
      continue;
    }
    const auto slot = b.reply_slot[next];
    drop("dropped_send_failed", "send failed", b.sizes[slot], b.senders[slot]);
    ++next;
  }
}

asio::awaitable<void> udp_endpoint::run() {
  // Every slot's buffer, allocated once and never cleared: a slot's pages
  // are touched only by the datagrams that land in it.
  batch_ = std::make_unique<batch_state>();
  auto& b = *batch_;
  b.small = std::make_unique_for_overwrite<std::byte[]>(small_bytes * batch_size);
  b.large = std::make_unique_for_overwrite<std::byte[]>(receive_buffer_size * batch_size);
  for (std::size_t i = 0; i < batch_size; ++i) {
    b.received_iov[i][0] = {b.small.get() + i * small_bytes, small_bytes};
    b.received_iov[i][1] = {b.large.get() + i * receive_buffer_size + small_bytes, receive_buffer_size - small_bytes};
    b.received[i].msg_hdr.msg_iov = b.received_iov[i].data();
    b.received[i].msg_hdr.msg_iovlen = 2;
  }
  // Bound to a wildcard address: learn each datagram's destination, to
  // answer from it.
  error_code ec;
  const auto local = socket_.local_endpoint(ec);
  if (!ec && local.address().is_unspecified()) {
    const int on = 1;
    const bool v6 = local.address().is_v6();
    answer_from_destination_ = ::setsockopt(socket_.native_handle(), v6 ? IPPROTO_IPV6 : IPPROTO_IP,
                                            v6 ? IPV6_RECVPKTINFO : IP_PKTINFO, &on, sizeof on) == 0;
    // On "::", IPv4 datagrams get IP_PKTINFO as well, whose local address
    // handles a broadcast destination (the IPv6 form only has the
    // destination itself).
    if (v6 && answer_from_destination_) ::setsockopt(socket_.native_handle(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
    if (!answer_from_destination_)
      log_.warn("udp: cannot learn datagrams' destinations ({}); echoes leave from the address the route picks",
                std::strerror(errno));
  }

  // One operation per batch: it waits, when the last batch drained the
  // socket, without an epoll re-arm, and otherwise takes the next batch at
  // once; either way each batch's completion goes through the io_context's
  // queue, so the TCP sessions on this thread get their turn in between.
  while (socket_.is_open()) {
    auto [receive_ec, count] = co_await async_when_ready(
        socket_, [this] { return receive_batch(); }, nothrow);
    if (receive_ec == asio::error::operation_aborted || !socket_.is_open()) co_return;
    if (receive_ec) {
      // Nothing the endpoint can act on (an unconnected UDP socket reports
      // no ICMP errors): noted, and the next batch is taken.
      log_.debug("udp receive failed: {}", receive_ec.message());
      continue;
    }
    co_await echo_batch(count);
  }
}

} // namespace echo
