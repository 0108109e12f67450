// The TLS echo session: tls_session() of tcp_session.hpp. It shares the
// plain session's start (PROXY prelude), its write-back with backpressure
// and its end; only the reads differ, and the handshake and close_notify
// that frame them.
#include "echo/server/tcp/tcp_session.hpp"

#include "echo/common/asio.hpp"
#include "echo/common/duration_text.hpp"
#include "echo/common/net/endpoint_format.hpp"
#include "echo/common/tls.hpp"
#include "echo/server/tcp/buffer_pool.hpp"
#include "echo/server/tcp/phase_deadline.hpp"
#include "echo/server/tcp/proxy_prelude.hpp"
#include "echo/server/tcp/session_record.hpp"
#include "echo/server/tcp/session_registry.hpp"
#include "echo/server/tcp/tls_context.hpp"
#include "echo/server/tcp/write_back.hpp"

#include <spdlog/spdlog.h> // SPDLOG_LOGGER_TRACE

#include <boost/asio/this_coro.hpp>
#include <openssl/ssl.h>

#include <array>

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
  const auto& context = record.context;
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
    context.stats.add("tls_handshakes");
    co_return true;
  }
  // A stop that cancels a handshake is no failure of the client's.
  if (entry.reason() == close_reason::shutdown) co_return false;
  context.stats.add("tls_handshake_failures");
  if (context.tls_warnings && context.tls_warnings->allow()) {
    const auto why =
        expired ? "not complete within " + seconds_text(context.tls_phase_limit) : tls_failure_text(stream, failure);
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
