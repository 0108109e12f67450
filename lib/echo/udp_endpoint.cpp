#include "echo/udp_endpoint.hpp"

#include "echo/endpoint_format.hpp"
#include "echo/warning_throttle.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sys/socket.h>

#include <memory>

namespace echo {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;
using boost::system::error_code;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Larger than any UDP payload over IPv4 or IPv6 (without jumbograms).
constexpr std::size_t receive_buffer_size = 65536;

// MSG_TRUNC makes recvmsg return a datagram's real length even when it did
// not fit, so a truncated datagram is recognised and never echoed in part.
constexpr asio::socket_base::message_flags report_real_length = MSG_TRUNC;

// A one-second burst: a source may send up to a second's worth at once.
std::uint32_t burst_for(std::uint32_t rate) { return rate; }

} // namespace

udp_endpoint::udp_endpoint(udp::socket socket, udp_settings settings, server_stats& stats,
                           spdlog::logger& log)
    : socket_(std::move(socket)), settings_(std::move(settings)),
      limiter_(settings_.rate_limit, burst_for(settings_.rate_limit)), stats_(stats), log_(log) {}

udp::endpoint udp_endpoint::local_endpoint() const { return socket_.local_endpoint(); }

void udp_endpoint::close() {
  error_code ignored;
  socket_.close(ignored);
}

asio::awaitable<void> udp_endpoint::run() {
  const auto buffer = std::make_unique_for_overwrite<std::byte[]>(receive_buffer_size);
  warning_throttle drop_warning;
  udp::endpoint sender;
  error_code ec;
  socket_.non_blocking(true, ec);

  const auto dropped = [&](server_stats::counter& counter, const char* why, std::size_t size) {
    add(counter);
    if (drop_warning.allow())
      log_.warn("dropped {}-byte datagram from {}: {} (dropped so far: blocked_port={} too_large={} rate_limited={})",
                size, sender, why, stats_.dropped_blocked_port.load(std::memory_order_relaxed),
                stats_.dropped_too_large.load(std::memory_order_relaxed),
                stats_.dropped_rate_limited.load(std::memory_order_relaxed));
  };

  while (socket_.is_open()) {
    auto [receive_ec, size] = co_await socket_.async_receive_from(
        asio::buffer(buffer.get(), receive_buffer_size), sender, report_real_length, nothrow);
    if (receive_ec == asio::error::operation_aborted || !socket_.is_open()) break;
    if (receive_ec) {
      // ICMP errors and the like concern one past datagram, not the endpoint.
      log_.debug("udp receive failed: {}", receive_ec.message());
      continue;
    }
    add(stats_.datagrams_in);
    add(stats_.udp_bytes_in, size);
    log_.trace("datagram of {} bytes from {}", size, sender);

    if (size > settings_.max_datagram || size > receive_buffer_size) {
      dropped(stats_.dropped_too_large, "larger than max-datagram", size);
      continue;
    }
    if (settings_.blocked_source_ports.blocks(sender.port())) {
      dropped(stats_.dropped_blocked_port, "source port blocked (udp-blocked-ports)", size);
      continue;
    }
    if (!limiter_.allow(sender.address())) {
      dropped(stats_.dropped_rate_limited, "source over udp-rate-limit", size);
      continue;
    }

    const auto reply = asio::buffer(buffer.get(), size);
    std::size_t sent = socket_.send_to(reply, sender, 0, ec);
    if (ec == asio::error::would_block) {
      // The send buffer is full: wait for room rather than drop.
      auto [send_ec, n] = co_await socket_.async_send_to(reply, sender, nothrow);
      ec = send_ec;
      sent = n;
    }
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      dropped(stats_.dropped_send_failed, "send failed", size);
      continue;
    }
    add(stats_.datagrams_out);
    add(stats_.udp_bytes_out, sent);
  }
}

} // namespace echo
