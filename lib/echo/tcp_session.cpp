#include "echo/tcp_session.hpp"

#include "echo/buffer_pool.hpp"
#include "echo/endpoint_format.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace echo {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// A session that keeps sending gets this many buffers' worth per wake-up,
// then lets the others run.
constexpr int reads_per_wakeup = 16;

struct transfer {
  std::uint64_t in = 0;
  std::uint64_t out = 0;
};

bool is_peer_gone(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted;
}

const char* describe_end(close_reason reason, const error_code& end) {
  if (reason == close_reason::idle) return "idle timeout";
  if (reason == close_reason::shutdown) return "server stopping";
  if (end == asio::error::eof) return "closed by peer";
  if (is_peer_gone(end)) return "reset by peer";
  return "error";
}

} // namespace

asio::awaitable<void> tcp_session(tcp::socket socket, const session_context& context) {
  const auto started = std::chrono::steady_clock::now();
  error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  socket.set_option(tcp::no_delay(true), ec);
  socket.non_blocking(true, ec);
  session_registry::entry entry(context.registry, socket, co_await asio::this_coro::executor);
  context.log.debug("session opened: peer {}", peer);

  transfer total;
  error_code end;
  while (!end && entry.reason() == close_reason::none) {
    // Idle: wait for data owning no buffer.
    auto [wait_ec] = co_await socket.async_wait(tcp::socket::wait_read, nothrow);
    if (wait_ec) {
      end = wait_ec;
      break;
    }
    // Read what is waiting and write it straight back, as an epoll loop
    // would; the buffer is borrowed only until then.
    const auto buffer = buffer_pool::acquire();
    for (int round = 0; round < reads_per_wakeup && !end; ++round) {
      const std::size_t n = socket.read_some(buffer.buffer(), end);
      if (end == asio::error::would_block) {
        end.clear();
        break;
      }
      if (end) break;
      total.in += n;
      add(context.stats.tcp_bytes_in, n);
      context.log.trace("read {} bytes", n);

      // Most writes complete at once. Only a peer slow to read makes us
      // wait, and while we wait we do not read (backpressure).
      std::size_t written = socket.write_some(asio::buffer(buffer.bytes().data(), n), end);
      if (end == asio::error::would_block) {
        written = 0;
        end.clear();
      }
      if (!end && written < n) {
        auto [write_ec, rest] = co_await asio::async_write(
            socket, asio::buffer(buffer.bytes().data() + written, n - written), nothrow);
        end = write_ec;
        written += rest;
      }
      total.out += written;
      add(context.stats.tcp_bytes_out, written);
      if (!end) entry.touch();
      if (n < buffer_pool::buffer_size) break; // drained
    }
  }

  if (entry.reason() == close_reason::idle) add(context.stats.sessions_idle_closed);
  if (entry.reason() == close_reason::none) {
    if (end == asio::error::eof) {
      // Half-close: everything read has been written back; finish our side.
      socket.shutdown(tcp::socket::shutdown_send, ec);
    } else if (!is_peer_gone(end)) {
      add(context.stats.sessions_failed);
      context.log.warn("session with {} failed: {}", peer, end.message());
    }
  }
  socket.close(ec);

  const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started);
  context.log.debug("session closed: peer {} {} bytes_in={} bytes_out={} duration_ms={:.1f}", peer,
                    describe_end(entry.reason(), end), total.in, total.out, elapsed.count());
}

} // namespace echo
