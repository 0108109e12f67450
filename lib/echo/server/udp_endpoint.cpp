#include "echo/server/udp_endpoint.hpp"

#include "echo/common/asio.hpp"
#include "echo/common/endpoint_format.hpp"

#include <spdlog/spdlog.h> // SPDLOG_LOGGER_TRACE

#include <sys/socket.h>

#include <memory>

namespace echo {
namespace {

using asio::ip::udp;

// Larger than any UDP payload over IPv4 or IPv6 (without jumbograms).
constexpr std::size_t receive_buffer_size = 65536;

// MSG_TRUNC makes recvmsg return a datagram's real length even when it did
// not fit, so a truncated datagram is recognised and never echoed in part.
constexpr asio::socket_base::message_flags report_real_length = MSG_TRUNC;

// Datagrams taken per wake-up before the other coroutines get their turn.
constexpr int datagrams_per_wakeup = 64;

// A one-second burst: a source may send up to a second's worth at once.
std::uint32_t burst_for(std::uint32_t rate) { return rate; }

} // namespace

udp_endpoint::udp_endpoint(udp::socket socket, udp_settings settings, server_stats& stats, spdlog::logger& log)
    : socket_(std::move(socket)), own_port_(socket_.local_endpoint().port()), settings_(std::move(settings)),
      limiter_(settings_.rate_limit, burst_for(settings_.rate_limit)), stats_(stats), log_(log) {}

udp::endpoint udp_endpoint::local_endpoint() const { return socket_.local_endpoint(); }

void udp_endpoint::close() {
  error_code ignored;
  socket_.close(ignored);
}

void udp_endpoint::count_sent(std::size_t bytes) {
  add(stats_.datagrams_out);
  add(stats_.udp_bytes_out, bytes);
}

void udp_endpoint::drop(server_stats::counter& counter, const char* why, std::size_t size,
                        const udp::endpoint& sender) {
  add(counter);
  if (drop_warning_.allow())
    log_.warn(
        "dropped {}-byte datagram from {}: {} (dropped so far: blocked_port={} too_large={} loop={} rate_limited={})",
        size, sender, why, stats_.dropped_blocked_port.load(std::memory_order_relaxed),
        stats_.dropped_too_large.load(std::memory_order_relaxed), stats_.dropped_loop.load(std::memory_order_relaxed),
        stats_.dropped_rate_limited.load(std::memory_order_relaxed));
}

udp_endpoint::outcome udp_endpoint::echo(std::span<const std::byte> datagram, std::size_t real_size,
                                         const udp::endpoint& sender) {
  add(stats_.datagrams_in);
  add(stats_.udp_bytes_in, real_size);
  SPDLOG_LOGGER_TRACE(&log_, "datagram of {} bytes from {}", real_size, sender);
  if (real_size > settings_.max_datagram || real_size > datagram.size()) {
    drop(stats_.dropped_too_large, "larger than max-datagram", real_size, sender);
    return outcome::dropped;
  }
  if (sender.port() == own_port_) {
    // Another instance of this service, or this one through a spoofed
    // source: answering could only start a loop.
    drop(stats_.dropped_blocked_port, "source port is this server's own port", real_size, sender);
    return outcome::dropped;
  }
  if (settings_.blocked_source_ports.blocks(sender.port())) {
    drop(stats_.dropped_blocked_port, "source port blocked (udp-blocked-ports)", real_size, sender);
    return outcome::dropped;
  }
  if (!damper_.allow(sender, datagram.first(real_size))) {
    drop(stats_.dropped_loop, "it repeats what we just sent it (an echo loop)", real_size, sender);
    return outcome::dropped;
  }
  if (!limiter_.allow(sender.address())) {
    drop(stats_.dropped_rate_limited, "source over udp-rate-limit", real_size, sender);
    return outcome::dropped;
  }
  error_code ec;
  const auto sent = socket_.send_to(asio::buffer(datagram.data(), real_size), sender, 0, ec);
  if (ec == asio::error::would_block) return outcome::send_would_block;
  if (ec) {
    drop(stats_.dropped_send_failed, "send failed", real_size, sender);
    return outcome::dropped;
  }
  count_sent(sent);
  return outcome::echoed;
}

asio::awaitable<void> udp_endpoint::run() {
  const auto storage = std::make_unique_for_overwrite<std::byte[]>(receive_buffer_size);
  const std::span<std::byte> buffer(storage.get(), receive_buffer_size);
  udp::endpoint sender;
  error_code ec;
  socket_.non_blocking(true, ec);

  while (socket_.is_open()) {
    auto [receive_ec, size] = co_await socket_.async_receive_from(asio::buffer(buffer.data(), buffer.size()), sender,
                                                                  report_real_length, nothrow);
    // Then take what else is queued directly, as an epoll loop would, up to
    // a batch so TCP sessions on this thread get their turn.
    for (int batch = 1;; ++batch) {
      if (receive_ec == asio::error::operation_aborted || !socket_.is_open()) co_return;
      if (receive_ec == asio::error::would_block) break;
      if (receive_ec) {
        // ICMP errors and the like concern one past datagram, not the endpoint.
        log_.debug("udp receive failed: {}", receive_ec.message());
      } else if (echo(buffer, size, sender) == outcome::send_would_block) {
        // The send buffer is full: wait for room rather than drop.
        add(stats_.udp_send_waits);
        auto [send_ec, sent] = co_await socket_.async_send_to(asio::buffer(buffer.data(), size), sender, nothrow);
        if (send_ec == asio::error::operation_aborted) co_return;
        if (send_ec) {
          drop(stats_.dropped_send_failed, "send failed", size, sender);
        } else {
          count_sent(sent);
        }
      }
      if (batch == datagrams_per_wakeup) break;
      size = socket_.receive_from(asio::buffer(buffer.data(), buffer.size()), sender, report_real_length, receive_ec);
    }
  }
}

} // namespace echo
