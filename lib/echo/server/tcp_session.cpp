#include "echo/server/tcp_session.hpp"

#include "echo/common/asio.hpp"
#include "echo/common/endpoint_format.hpp"
#include "echo/server/buffer_pool.hpp"
#include "echo/server/proxy_protocol.hpp"
#include "echo/server/session_registry.hpp"

#include <spdlog/spdlog.h> // SPDLOG_LOGGER_TRACE

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

namespace echo {
namespace {

using asio::ip::tcp;

// A session that keeps sending gets this many buffers' worth per wake-up,
// then lets the others run.
constexpr int reads_per_wakeup = 16;

struct transfer {
  std::uint64_t in = 0;
  std::uint64_t out = 0;
};

// What one non-blocking read-and-write-back did.
struct echo_step {
  std::size_t read = 0;    // bytes read into the buffer
  std::size_t written = 0; // of those, bytes already written back
  error_code error;        // would_block is not an error: it is read == 0
};

// Reads what is waiting and writes it straight back, without blocking, as an
// epoll loop would: most echoes need no wait at all, so no async operation
// (and no epoll re-arm) is paid for them.
echo_step read_and_write_back(tcp::socket& socket, std::span<std::byte> buffer) {
  echo_step step;
  step.read = socket.read_some(asio::buffer(buffer.data(), buffer.size()), step.error);
  if (step.error == asio::error::would_block) return {};
  if (step.error) return step;
  step.written = socket.write_some(asio::buffer(buffer.data(), step.read), step.error);
  if (step.error == asio::error::would_block) {
    step.written = 0;
    step.error.clear();
  }
  return step;
}

bool is_peer_gone(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted;
}

const char* describe_end(close_reason reason, const error_code& end) {
  if (reason == close_reason::idle) return "idle timeout";
  if (reason == close_reason::shutdown) return "server stopping";
  if (end == asio::error::eof) return "closed by peer";
  if (is_peer_gone(end)) return "reset by peer";
  return "error";
}

// How long a balancer has to send the whole PROXY protocol header.
constexpr std::chrono::seconds proxy_header_timeout{5};

// --proxy-protocol: reads the header that must start the connection, within
// proxy_header_timeout, into a pool buffer (no allocation), and writes back
// whatever client data came after it in the same reads. Returns the header,
// or nothing when the connection is to be closed (counted and logged).
asio::awaitable<std::optional<proxy_header>> read_proxy_header(tcp::socket& socket, const tcp::endpoint& peer,
                                                               session_context& context, transfer& total) {
  // On the session's own executor (its strand with --threads N), like the reads.
  asio::steady_timer deadline(co_await asio::this_coro::executor);
  bool expired = false;
  deadline.expires_after(proxy_header_timeout);
  deadline.async_wait([&socket, &expired](const error_code& ec) {
    if (ec) return; // the header came (or the session ended) first
    expired = true;
    error_code ignored;
    socket.cancel(ignored);
  });
  const auto lease = buffer_pool::acquire();
  const auto buffer = lease.bytes().first(proxy_header_max_bytes);
  const auto* const start = reinterpret_cast<const std::uint8_t*>(buffer.data());
  std::size_t have = 0;
  proxy_parse parsed;
  std::string why;
  while (parsed.result == proxy_parse::status::incomplete) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer.data() + have, buffer.size() - have), nothrow);
    if (ec) {
      why = expired ? "no complete PROXY protocol header within 5s"
                    : "closed before its PROXY protocol header was complete (" + ec.message() + ")";
      break;
    }
    have += n;
    parsed = parse_proxy_header({start, have});
    if (parsed.result == proxy_parse::status::invalid) why = parsed.error;
  }
  deadline.cancel();
  if (parsed.result != proxy_parse::status::complete) {
    add(context.stats.sessions_rejected_proxy);
    if (context.proxy_warnings && context.proxy_warnings->allow())
      context.log.warn("connection from {} closed: {}; rejected so far: {} (proxy_protocol)", peer, why,
                       context.stats.sessions_rejected_proxy.load(std::memory_order_relaxed));
    co_return std::nullopt;
  }
  // The client's first bytes, if they came with the header: echoed now.
  const auto rest = have - parsed.header.length;
  if (rest > 0) {
    total.in += rest;
    add(context.stats.tcp_bytes_in, rest);
    auto [ec, n] =
        co_await asio::async_write(socket, asio::buffer(buffer.data() + parsed.header.length, rest), nothrow);
    total.out += n;
    add(context.stats.tcp_bytes_out, n);
    if (ec) co_return std::nullopt;
  }
  co_return std::move(parsed.header);
}

} // namespace

asio::awaitable<void> tcp_session(tcp::socket socket, session_context context) {
  const auto started = std::chrono::steady_clock::now();
  error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  socket.set_option(tcp::no_delay(true), ec);
  // The direct reads and writes below must never block an io thread.
  socket.non_blocking(true, ec);
  if (ec) {
    add(context.stats.sessions_failed);
    context.log.warn("session with {} not started: cannot make its socket non-blocking: {}", peer, ec.message());
    co_return;
  }
  session_registry::entry entry(context.registry, socket, co_await asio::this_coro::executor);
  transfer total;
  error_code end;
  auto client = peer; // who the logs name: the peer, or the client a balancer's header names
  if (context.proxy_protocol) {
    const auto header = co_await read_proxy_header(socket, peer, context, total);
    if (!header) {
      socket.close(ec);
      co_return;
    }
    if (header->source) client = *header->source;
    if (context.log.should_log(spdlog::level::debug))
      context.log.debug("session opened: peer {} via {} (PROXY v{}{}{}{})", client, peer, header->version,
                        header->local ? " LOCAL" : "",
                        header->authority.empty() ? "" : " authority " + header->authority,
                        header->unique_id.empty() ? "" : " unique-id " + header->unique_id);
  } else {
    context.log.debug("session opened: peer {}", peer);
  }

  while (!end && entry.reason() == close_reason::none) {
    // Idle: wait for data owning no buffer.
    auto [wait_ec] = co_await socket.async_wait(tcp::socket::wait_read, nothrow);
    if (wait_ec) {
      end = wait_ec;
      break;
    }
    // The buffer is borrowed only while there is something to echo.
    const auto buffer = buffer_pool::acquire();
    for (int round = 0; round < reads_per_wakeup && !end; ++round) {
      auto step = read_and_write_back(socket, buffer.bytes());
      end = step.error;
      if (step.read == 0) break; // drained (or failed)
      total.in += step.read;
      add(context.stats.tcp_bytes_in, step.read);
      SPDLOG_LOGGER_TRACE(&context.log, "read {} bytes", step.read);

      // Only a peer slow to read makes us wait, and while we wait we do not
      // read (backpressure). Every part it takes is progress: a slow reader
      // is not idle.
      while (!end && step.written < step.read) {
        auto [write_ec, n] = co_await socket.async_write_some(
            asio::buffer(buffer.bytes().data() + step.written, step.read - step.written), nothrow);
        end = write_ec;
        step.written += n;
        if (n > 0) entry.touch();
      }
      total.out += step.written;
      add(context.stats.tcp_bytes_out, step.written);
      if (!end) entry.touch();
      if (step.read < buffer_pool::buffer_size) break; // drained
    }
  }

  if (entry.reason() == close_reason::idle) add(context.stats.sessions_idle_closed);
  if (entry.reason() == close_reason::none) {
    if (end == asio::error::eof) {
      // Half-close: everything read has been written back; finish our side.
      socket.shutdown(tcp::socket::shutdown_send, ec);
    } else if (!is_peer_gone(end)) {
      add(context.stats.sessions_failed);
      context.log.warn("session with {} failed: {}", client, end.message());
    }
  }
  socket.close(ec);

  const auto lasted = std::chrono::steady_clock::now() - started;
  context.stats.session_durations.record(lasted);
  context.log.debug("session closed: peer {} {} bytes_in={} bytes_out={} duration_ms={:.1f}", client,
                    describe_end(entry.reason(), end), total.in, total.out,
                    std::chrono::duration<double, std::milli>(lasted).count());
}

} // namespace echo
