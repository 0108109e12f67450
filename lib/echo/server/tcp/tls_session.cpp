// The TLS echo session: tls_session() of tcp_session.hpp. It shares the
// plain session's start (PROXY prelude), its write-back with backpressure
// and its end; the reads and writes go through OpenSSL on the socket
// (tls_connection.hpp), framed by the handshake and close_notify.
#include "echo/server/tcp/tcp_session.hpp"

#include "echo/common/asio.hpp"
#include "echo/common/duration_text.hpp"
#include "echo/common/log_safe.hpp"
#include "echo/common/net/endpoint_format.hpp"
#include "echo/common/tls.hpp"
#include "echo/server/tcp/buffer_pool.hpp"
#include "echo/server/tcp/phase_deadline.hpp"
#include "echo/server/tcp/proxy_prelude.hpp"
#include "echo/server/tcp/session_record.hpp"
#include "echo/server/tcp/session_registry.hpp"
#include "echo/server/tcp/tls_connection.hpp"
#include "echo/server/tcp/tls_context.hpp"
#include "echo/server/tcp/write_back.hpp"

#include <spdlog/spdlog.h> // SPDLOG_LOGGER_TRACE

#include <boost/asio/this_coro.hpp>
#include <openssl/ssl.h>

#include <span>
#include <string>

namespace echo {
namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;

// How long a session we close (idle, or the server stopping) waits for its
// close_notify to go out. A peer's own close_notify is answered within
// tls_phase_limit instead: that peer is reading.
constexpr std::chrono::seconds close_notify_on_our_close{1};

// The TLS echo loop, shaped like the plain one: the read waits in the
// reactor owning no buffer and borrows one only for an SSL_read that finds
// data (tls_connection.hpp), so an idle session holds OpenSSL's state and
// this frame, nothing else. `cut_write` is set when the loop ended inside a
// write-back, leaving a record half sent.
asio::awaitable<error_code> echo_tls(tls_connection& connection, session_registry::entry& entry, session_record& record,
                                     bool& cut_write) {
  buffer_pool::lease buffer;
  while (entry.reason() == close_reason::none) {
    auto [ec, n] = co_await connection.async_read(buffer, nothrow);
    if (ec == asio::error::would_block) {
      // OpenSSL must write before it can read on (a key update to answer).
      if (const auto wait_ec = co_await connection.wait_writable()) co_return wait_ec;
      continue;
    }
    if (ec) co_return ec;
    record.received(n);
    SPDLOG_LOGGER_TRACE(&record.context.log, "read {} bytes (TLS)", n);
    if (const auto write_ec = co_await write_back(connection, buffer.bytes().data(), n, 0, entry, record)) {
      cut_write = true;
      co_return write_ec;
    }
    entry.touch();
    buffer = {}; // most likely idle next: hold nothing
  }
  co_return error_code{};
}

// One debug line on what the handshake agreed on and what the client said.
// SNI, ALPN and the certificate's subject are the client's words: escaped.
void log_handshake(const session_record& record, SSL* ssl, const std::string& alpn) {
  if (!record.context.log.should_log(spdlog::level::debug)) return;
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const auto subject = peer_certificate_subject(ssl);
  record.context.log.debug("TLS session with {}: {}, SNI {}, ALPN offered {}{}", record.client, tls_parameters(ssl),
                           sni ? "'" + log_safe(sni) + "'" : std::string("none"),
                           alpn.empty() ? std::string("none") : "'" + log_safe(alpn) + "'",
                           subject.empty() ? std::string() : ", client certificate '" + log_safe(subject) + "'");
}

// The server's side of the handshake, within tls_phase_limit: first the
// wait for the client's first byte, holding nothing but the socket (unless
// `early`, what the client sent with its PROXY header, already holds it;
// `header_buffer`, where those bytes are, goes back once they are copied),
// then the SSL object and the handshake. False (counted, logged) when it
// failed.
asio::awaitable<bool> tls_handshake(tcp::socket& socket, tls_connection& connection, asio::ssl::context& tls,
                                    std::span<const std::byte> early, buffer_pool::lease& header_buffer,
                                    const session_registry::entry& entry, session_record& record, std::string& alpn) {
  const auto& context = record.context;
  error_code failure;
  bool expired = false;
  {
    const phase_deadline deadline(socket, co_await asio::this_coro::executor, context.tls_phase_limit);
    if (early.empty()) {
      auto [ec] = co_await socket.async_wait(tcp::socket::wait_read, nothrow);
      failure = ec;
    }
    if (!failure) failure = connection.start(tls, early);
    header_buffer = {};
    if (!failure) {
      note_client_hello(connection.native_handle(), &alpn);
      failure = co_await connection.handshake();
    }
    expired = deadline.expired();
  }
  if (!failure) {
    context.stats.add("tls_handshakes");
    co_return true;
  }
  // A stop that cancels a handshake is no failure of the client's.
  if (entry.reason() == close_reason::shutdown) co_return false;
  context.stats.add("tls_handshake_failures");
  if (context.tls_warnings && context.tls_warnings->allow()) {
    const auto why = expired ? "not complete within " + seconds_text(context.tls_phase_limit)
                             : tls_failure_text(connection.native_handle(), failure);
    context.log.warn("TLS handshake with {} failed: {}; failed so far: {}", record.client, why,
                     context.stats.get("tls_handshake_failures"));
  }
  co_return false;
}
} // namespace

asio::awaitable<void> tls_session(tcp::socket socket, tcp::endpoint peer, session_context context) {
  session_record record{context, peer, peer};
  prepare_socket(socket, context);
  const auto executor = co_await asio::this_coro::executor;
  const auto tls = context.tls->current(); // held: a reload does not pull it from under us
  session_registry::entry entry(context.registry, socket, executor);
  tls_connection connection(socket);
  std::string alpn; // what the client offers, for the log
  error_code ec;

  // --proxy-protocol: the header comes before the handshake, and client
  // bytes read with it are the start of the handshake.
  buffer_pool::lease header_buffer;
  std::span<const std::byte> early;
  if (context.proxy_protocol) {
    header_buffer = buffer_pool::acquire();
    const auto start = co_await read_proxy_header(socket, header_buffer.bytes(), record);
    if (!start) {
      socket.close(ec);
      co_return;
    }
    record.opened(&start->header);
    early = start->rest;
  } else {
    record.opened(nullptr);
  }

  const bool shaken = co_await tls_handshake(socket, connection, *tls, early, header_buffer, entry, record, alpn);
  if (!shaken) {
    socket.close(ec);
    record.closed("TLS handshake failed");
    co_return;
  }
  log_handshake(record, connection.native_handle(), alpn);

  bool cut_write = false;
  const auto end = co_await echo_tls(connection, entry, record, cut_write);
  record.count_end(entry.reason(), end);
  // Our close_notify: the answer to the peer's (its half-close; everything
  // read has been written back), or the notice that we close the session.
  // Not after a write cut short (a record half sent), nor to a peer gone.
  const bool ours = entry.reason() != close_reason::none;
  if (!cut_write && (end == asio::error::eof || ours)) {
    const phase_deadline deadline(socket, executor,
                                  ours ? clock::duration(close_notify_on_our_close) : context.tls_phase_limit);
    co_await connection.send_close_notify();
  }
  socket.close(ec);
  record.closed(describe_end(entry.reason(), end));
}
} // namespace echo
