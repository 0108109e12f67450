// The plain TCP echo session (RFC 862): tcp_session() of tcp_session.hpp.
#include "echo/server/tcp/tcp_session.hpp"

#include "echo/common/asio.hpp"
#include "echo/server/tcp/buffer_pool.hpp"
#include "echo/server/tcp/proxy_prelude.hpp"
#include "echo/server/tcp/read_when_ready.hpp"
#include "echo/server/tcp/session_record.hpp"
#include "echo/server/tcp/session_registry.hpp"
#include "echo/server/tcp/write_back.hpp"

#include <spdlog/spdlog.h> // SPDLOG_LOGGER_TRACE

#include <boost/asio/this_coro.hpp>

namespace echo {

using asio::ip::tcp;

asio::awaitable<void> tcp_session(tcp::socket socket, tcp::endpoint peer, session_context context) {
  session_record record{context, peer, peer};
  prepare_socket(socket, context);
  session_registry::entry entry(context.registry, socket, co_await asio::this_coro::executor);
  error_code ec;
  error_code end;
  if (context.proxy_protocol) {
    const auto lease = buffer_pool::acquire();
    const auto start = co_await read_proxy_header(socket, lease.bytes(), record);
    if (!start) {
      socket.close(ec);
      co_return;
    }
    record.opened(&start->header);
    // The client's first bytes, if they came with the header: echoed now.
    if (!start->rest.empty()) {
      record.received(start->rest.size());
      end = co_await write_back(socket, start->rest.data(), start->rest.size(), 0, entry, record);
    }
  } else {
    record.opened(nullptr);
  }
  // The echo loop, in this frame (an idle session holds one coroutine frame
  // and nothing else). async_read_when_ready waits for data owning no buffer
  // and borrows one only to read; the session gives it back after a read
  // that did not fill it. Its read is tried at once when the session starts
  // (a client that sends at once, like a health check, has usually done so
  // by then) and whenever the last one left something queued; after a read
  // that drained the socket it waits first, without a system call to re-arm
  // the socket (see read_when_ready.hpp).
  buffer_pool::lease buffer;
  while (!end && entry.reason() == close_reason::none) {
    auto [read_ec, n] = co_await async_read_when_ready(socket, buffer, nothrow);
    end = read_ec;
    if (end) break;
    record.received(n);
    SPDLOG_LOGGER_TRACE(&context.log, "read {} bytes", n);
    std::size_t written = 0;
    end = send_now(socket, buffer.bytes().first(n), written);
    record.sent(written);
    // Only a peer slow to read makes us wait (and only then is a coroutine
    // frame made: none per message otherwise).
    if (!end && written < n) end = co_await write_back(socket, buffer.bytes().data(), n, written, entry, record);
    if (!end) entry.touch();
    if (n < buffer_pool::buffer_size) buffer = {}; // most likely idle next: hold nothing
  }

  record.count_end(entry.reason(), end);
  // After a half-close everything read has been written back, and nothing
  // is left unread: close() alone sends our FIN (no shutdown() first).
  socket.close(ec);
  record.closed(describe_end(entry.reason(), end));
}
} // namespace echo
