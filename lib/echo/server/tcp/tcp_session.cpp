#include "echo/server/tcp/tcp_session.hpp"

#include "echo/common/asio.hpp"
#include "echo/common/duration_text.hpp"
#include "echo/common/net/endpoint_format.hpp"
#include "echo/common/tls.hpp"
#include "echo/server/tcp/buffer_pool.hpp"
#include "echo/common/proxy/proxy_protocol.hpp"
#include "echo/server/tcp/read_when_ready.hpp"
#include "echo/server/tcp/session_registry.hpp"
#include "echo/server/reactor/socket_internals.hpp"
#include "echo/server/tcp/tls_context.hpp"

#include <spdlog/spdlog.h> // SPDLOG_LOGGER_TRACE

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <openssl/ssl.h>

#include <sys/socket.h>

#include <array>
#include <cerrno>

namespace echo {
namespace {

using asio::ip::tcp;
namespace ssl = asio::ssl;
using clock = std::chrono::steady_clock;

// One SSL_read returns at most one TLS record's plaintext: 16 KiB.
constexpr std::size_t tls_read_bytes = 16 * 1024;

// How long a session we close (idle, or the server stopping) waits for its
// close_notify to go out. A peer's own close_notify is answered within
// tls_phase_limit instead: that peer is reading.
constexpr std::chrono::seconds close_notify_on_our_close{1};

// How long a balancer has to send the whole PROXY protocol header.
constexpr std::chrono::seconds proxy_header_timeout{5};

bool is_peer_gone(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

const char* describe_end(close_reason reason, const error_code& end) {
  if (reason == close_reason::idle) return "idle timeout";
  if (reason == close_reason::shutdown) return "server stopping";
  if (end == asio::error::eof) return "closed by peer";
  if (end == ssl::error::stream_truncated) return "closed by peer without close_notify";
  if (is_peer_gone(end)) return "reset by peer";
  return "error";
}

// One session's bookkeeping from accept to close: who it is with (the peer,
// or the client a PROXY header names), what it moved, and its last log line.
struct session_record {
  session_context& context;
  tcp::endpoint peer{};
  tcp::endpoint client{};
  std::uint64_t in = 0;
  std::uint64_t out = 0;
  clock::time_point started = clock::now();

  void received(std::size_t n) {
    in += n;
    add(context.stats.tcp_bytes_in, n);
  }
  void sent(std::size_t n) {
    out += n;
    add(context.stats.tcp_bytes_out, n);
  }
  void opened(const proxy_header* header) const {
    if (header == nullptr) {
      context.log.debug("session opened: peer {}", peer);
    } else if (context.log.should_log(spdlog::level::debug)) {
      context.log.debug("session opened: peer {} via {} (PROXY v{}{}{}{})", client, peer, header->version,
                        header->local ? " LOCAL" : "",
                        header->authority.empty() ? "" : " authority " + header->authority,
                        header->unique_id.empty() ? "" : " unique-id " + header->unique_id);
    }
  }
  // What an end counts: an idle close, or a failure that was neither the
  // peer closing nor the peer going away.
  void count_end(close_reason reason, const error_code& end) const {
    if (reason == close_reason::idle) add(context.stats.sessions_idle_closed);
    if (reason == close_reason::none && end && !is_peer_gone(end)) {
      add(context.stats.sessions_failed);
      context.log.warn("session with {} failed: {}", client, end.message());
    }
  }
  void closed(const char* how) const {
    const auto lasted = clock::now() - started;
    context.stats.session_durations.record(lasted);
    context.log.debug("session closed: peer {} {} bytes_in={} bytes_out={} duration_ms={:.1f}", client, how, in, out,
                      std::chrono::duration<double, std::milli>(lasted).count());
  }
};

// A session's own socket settings. TCP_NODELAY, so that echoes go out at
// once, not when Nagle's algorithm would let them, unless the socket has it
// from its listener (a failure, from a peer already gone, shows at the first
// read). And Asio is told that no other descriptor shares this socket (it
// came from accept()), so that closing it takes no EPOLL_CTL_DEL.
void prepare_socket(tcp::socket& socket, const session_context& context) {
  if (!context.no_delay_inherited) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
  }
  mark_sole_owner(socket);
}

// Cancels a socket's operations when `limit` runs out first: the bound on
// one phase of a session (its PROXY header, its TLS handshake, its
// close_notify). The timer runs on the session's executor, so its handler
// and the session never run at once; once the phase is over (this object
// is gone) a handler already queued does nothing.
class phase_deadline {
public:
  phase_deadline(tcp::socket& socket, const asio::any_io_executor& executor, clock::duration limit)
      : timer_(executor, limit) {
    timer_.async_wait([&socket, state = state_](const error_code& ec) {
      if (ec || !state->active) return;
      state->expired = true;
      error_code ignored;
      socket.cancel(ignored);
    });
  }
  phase_deadline(const phase_deadline&) = delete;
  phase_deadline& operator=(const phase_deadline&) = delete;
  ~phase_deadline() {
    state_->active = false;
    timer_.cancel();
  }
  bool expired() const { return state_->expired; }

private:
  struct state {
    bool active = true;
    bool expired = false;
  };
  std::shared_ptr<state> state_ = std::make_shared<state>();
  asio::steady_timer timer_;
};

// What a PROXY protocol header left: the header, and the client's bytes
// that came in the same reads (in the buffer given).
struct proxy_start {
  proxy_header header;
  std::span<const std::byte> rest;
};

// --proxy-protocol: reads the header that must start the connection, within
// proxy_header_timeout, into `buffer` (a pool buffer: no allocation). Nothing
// when the connection is to be closed (counted and logged).
asio::awaitable<std::optional<proxy_start>> read_proxy_header(tcp::socket& socket, std::span<std::byte> buffer,
                                                              session_record& record) {
  auto& context = record.context;
  buffer = buffer.first(proxy_header_max_bytes);
  const auto* const start = reinterpret_cast<const std::uint8_t*>(buffer.data());
  std::size_t have = 0;
  proxy_parse parsed;
  std::string why;
  {
    const phase_deadline deadline(socket, co_await asio::this_coro::executor, proxy_header_timeout);
    while (parsed.result == proxy_parse::status::incomplete) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer.data() + have, buffer.size() - have), nothrow);
      if (ec) {
        why = deadline.expired() ? "no complete PROXY protocol header within " + seconds_text(proxy_header_timeout)
                                 : "closed before its PROXY protocol header was complete (" + ec.message() + ")";
        break;
      }
      have += n;
      parsed = parse_proxy_header({start, have});
      if (parsed.result == proxy_parse::status::invalid) why = parsed.error;
    }
  }
  if (parsed.result != proxy_parse::status::complete) {
    add(context.stats.sessions_rejected_proxy);
    if (context.proxy_warnings && context.proxy_warnings->allow())
      context.log.warn("connection from {} closed: {}; rejected so far: {} (proxy_protocol)", record.peer, why,
                       context.stats.sessions_rejected_proxy.load(std::memory_order_relaxed));
    co_return std::nullopt;
  }
  if (parsed.header.source) record.client = *parsed.header.source;
  const auto length = parsed.header.length;
  co_return proxy_start{std::move(parsed.header), std::span<const std::byte>(buffer.data() + length, have - length)};
}

// Writes data[written, size) back, waiting while the peer is slow to read,
// and not reading meanwhile (backpressure). Every part it takes is
// progress: a slow reader is not idle. Plain and TLS sessions both end up
// here.
template <class Stream>
asio::awaitable<error_code> write_back(Stream& stream, const std::byte* data, std::size_t size, std::size_t written,
                                       session_registry::entry& entry, session_record& record) {
  error_code ec;
  while (!ec && written < size) {
    auto [write_ec, n] = co_await stream.async_write_some(asio::buffer(data + written, size - written), nothrow);
    ec = write_ec;
    written += n;
    record.sent(n);
    if (n > 0) entry.touch();
  }
  co_return ec;
}

// Writes back what was just read, without waiting, as an epoll loop would:
// most echoes need no wait at all. A plain send() with MSG_DONTWAIT on the
// descriptor: the socket is never switched to non-blocking mode, which would
// cost an ioctl per session (Asio's own writes set it themselves, only if a
// session ever needs one). `written` is what went out; EAGAIN is no error.
error_code send_now(tcp::socket& socket, std::span<const std::byte> data, std::size_t& written) {
  written = 0;
  ssize_t sent = 0;
  do {
    sent = ::send(socket.native_handle(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent >= 0) {
    written = static_cast<std::size_t>(sent);
    return {};
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
  return {errno, asio::error::get_system_category()};
}

// The TLS echo loop. OpenSSL may hold decrypted bytes the socket no longer
// shows, so readiness of the socket says nothing and the plain loop's wait
// cannot be used: the session reads into a buffer of its own, one record's
// worth, which it keeps while idle (next to the stream's own buffers).
// `cut_write` is set when the loop ended inside a write-back, leaving a
// record half sent.
asio::awaitable<error_code> echo_tls(tls_stream& stream, session_registry::entry& entry, session_record& record,
                                     bool& cut_write) {
  std::array<std::byte, tls_read_bytes> buffer; // NOLINT(cppcoreguidelines-pro-type-member-init): read into first
  while (entry.reason() == close_reason::none) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(buffer), nothrow);
    if (ec) co_return ec;
    record.received(n);
    SPDLOG_LOGGER_TRACE(&record.context.log, "read {} bytes (TLS)", n);
    if (const auto write_ec = co_await write_back(stream, buffer.data(), n, 0, entry, record)) {
      cut_write = true;
      co_return write_ec;
    }
    entry.touch();
  }
  co_return error_code{};
}

// One debug line on what the handshake agreed on and what the client said.
void log_handshake(const session_record& record, const tls_stream& stream, const std::string& alpn) {
  if (!record.context.log.should_log(spdlog::level::debug)) return;
  auto* ssl = const_cast<tls_stream&>(stream).native_handle();
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const auto subject = peer_certificate_subject(stream);
  record.context.log.debug("TLS session with {}: {}, SNI {}, ALPN offered {}{}", record.client, tls_parameters(stream),
                           sni ? std::string("'") + sni + "'" : std::string("none"),
                           alpn.empty() ? std::string("none") : "'" + alpn + "'",
                           subject.empty() ? std::string() : ", client certificate '" + subject + "'");
}

// The server's side of the handshake, within tls_phase_limit; `early` is
// what the client sent with its PROXY header. False (counted, logged) when
// it failed.
asio::awaitable<bool> tls_handshake(tls_stream& stream, std::span<const std::byte> early,
                                    const session_registry::entry& entry, session_record& record) {
  auto& context = record.context;
  error_code failure;
  bool expired = false;
  {
    const phase_deadline deadline(stream.next_layer(), co_await asio::this_coro::executor, context.tls_phase_limit);
    auto [ec, used] =
        co_await stream.async_handshake(ssl::stream_base::server, asio::buffer(early.data(), early.size()), nothrow);
    failure = ec;
    expired = deadline.expired();
  }
  if (!failure) {
    add(context.stats.tls_handshakes);
    co_return true;
  }
  // A stop that cancels a handshake is no failure of the client's.
  if (entry.reason() == close_reason::shutdown) co_return false;
  add(context.stats.tls_handshake_failures);
  if (context.tls_warnings && context.tls_warnings->allow()) {
    const auto why =
        expired ? "not complete within " + seconds_text(context.tls_phase_limit) : tls_failure_text(stream, failure);
    context.log.warn("TLS handshake with {} failed: {}; failed so far: {}", record.client, why,
                     context.stats.tls_handshake_failures.load(std::memory_order_relaxed));
  }
  co_return false;
}

} // namespace

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

asio::awaitable<void> tls_session(tcp::socket socket, tcp::endpoint peer, session_context context) {
  session_record record{context, peer, peer};
  prepare_socket(socket, context);
  const auto executor = co_await asio::this_coro::executor;
  const auto tls = context.tls->current(); // held: a reload does not pull it from under us
  tls_stream stream(std::move(socket), *tls);
  auto& lower = stream.next_layer();
  session_registry::entry entry(context.registry, lower, executor);
  std::string alpn; // what the client offers, for the log
  note_client_hello(stream.native_handle(), &alpn);
  error_code ec;

  // --proxy-protocol: the header comes before the handshake, and client
  // bytes read with it are the start of the handshake.
  buffer_pool::lease header_buffer;
  std::span<const std::byte> early;
  if (context.proxy_protocol) {
    header_buffer = buffer_pool::acquire();
    const auto start = co_await read_proxy_header(lower, header_buffer.bytes(), record);
    if (!start) {
      lower.close(ec);
      co_return;
    }
    record.opened(&start->header);
    early = start->rest;
  } else {
    record.opened(nullptr);
  }

  const bool shaken = co_await tls_handshake(stream, early, entry, record);
  header_buffer = {};
  if (!shaken) {
    lower.close(ec);
    record.closed("TLS handshake failed");
    co_return;
  }
  log_handshake(record, stream, alpn);

  bool cut_write = false;
  const auto end = co_await echo_tls(stream, entry, record, cut_write);
  record.count_end(entry.reason(), end);
  // Our close_notify: the answer to the peer's (its half-close; everything
  // read has been written back), or the notice that we close the session.
  // Not after a write cut short (a record half sent), nor to a peer gone.
  const bool ours = entry.reason() != close_reason::none;
  if (!cut_write && (end == asio::error::eof || ours)) {
    const phase_deadline deadline(lower, executor,
                                  ours ? clock::duration(close_notify_on_our_close) : context.tls_phase_limit);
    co_await send_close_notify(stream);
  }
  lower.close(ec);
  record.closed(describe_end(entry.reason(), end));
}

} // namespace echo
