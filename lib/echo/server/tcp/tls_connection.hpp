#pragma once

// tls_connection: the server's TLS over a session's socket, OpenSSL reading
// and writing the descriptor itself. Asio's ssl::stream would add two 17 KiB
// stream buffers and a 2 x 17 KiB BIO pair to every session for as long as
// it lives, and reads through a buffer the session must keep while idle
// (decrypted bytes may wait inside OpenSSL where readiness cannot see them).
// Here OpenSSL owns the only buffers, and with SSL_MODE_RELEASE_BUFFERS
// (tls_context.cpp) gives them back whenever a record is done; a read waits
// in the reactor like the plain session's (async_when_ready), borrowing a
// buffer_pool buffer only for the SSL_read that finds data. What an idle
// session keeps is OpenSSL's state after the handshake.
//
// The SSL object itself is made by start(), which the session calls only
// once the client's first byte is in: a connection that sends nothing costs
// no more than a plain one.

#include "echo/common/asio.hpp"
#include "echo/server/reactor/when_ready.hpp"
#include "echo/server/tcp/buffer_pool.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <span>
#include <tuple>
#include <utility>

namespace echo {

namespace tls_connection_detail {

// What one OpenSSL call left to do.
enum class tls_want { nothing, read, write };

// After an OpenSSL call on `ssl` returned `result` (<= 0): what it waits
// for, or the error (eof for the peer's close_notify, ssl::error::
// stream_truncated for a TCP close without one, as Asio's stream says). The
// thread's OpenSSL error queue is left empty.
std::pair<tls_want, error_code> classify(SSL* ssl, int result);

// One try of a TLS read, for async_when_ready: borrows the buffer, reads
// one record's plaintext, and gives the buffer back if there was nothing.
// SSL_read reads the socket until it would block before it says "want
// read", so waiting for the next edge then is safe. A record read may have
// others behind it, so a read is never "drained": the next one tries first.
struct reader {
  SSL* ssl;
  buffer_pool::lease* lease;

  read_result operator()() const {
    if (!*lease) *lease = buffer_pool::acquire();
    std::size_t got = 0;
    ERR_clear_error();
    if (SSL_read_ex(ssl, lease->bytes().data(), lease->bytes().size(), &got) == 1)
      return {read_result::state::read, got, {}};
    const auto [want, ec] = classify(ssl, 0);
    if (want == tls_want::read) {
      *lease = {}; // waiting: no buffer held
      return {};
    }
    // want write (a TLS 1.3 key update to answer into a full send queue):
    // would_block tells the session to wait for room and read again.
    if (want == tls_want::write) return {read_result::state::read, 0, asio::error::would_block};
    return {read_result::state::drained, 0, ec};
  }
};

} // namespace tls_connection_detail

class tls_connection {
public:
  explicit tls_connection(asio::ip::tcp::socket& socket) noexcept : socket_(socket) {}

  // Makes the SSL object from `context`, reading `early` (client bytes that
  // came with a PROXY header) before the socket. The socket is switched to
  // non-blocking mode: OpenSSL reads and writes it directly.
  error_code start(asio::ssl::context& context, std::span<const std::byte> early);
  // Null before start().
  SSL* native_handle() const noexcept { return ssl_.get(); }

  // The server's side of the handshake. Unbounded: the caller's deadline
  // cancels the socket.
  asio::awaitable<error_code> handshake();

  // Reads what the peer sent into `lease` (borrowed only while there is
  // something to read): (error_code, bytes). would_block means OpenSSL must
  // write first: wait_writable(), then read again.
  template <typename Token>
  auto async_read(buffer_pool::lease& lease, Token&& token) {
    return async_when_ready(socket_, tls_connection_detail::reader{ssl_.get(), &lease}, std::forward<Token>(token));
  }
  asio::awaitable<error_code> wait_writable();

  // For write_back(): writes at once what the socket takes, waiting for room
  // only when it takes nothing: (error_code, bytes). The token is always
  // `nothrow`.
  auto async_write_some(asio::const_buffer data, const auto& /*token*/) { return write_some(data); }

  // Sends our close_notify without waiting for the peer's (one SSL_shutdown
  // does that when called directly). Unbounded: the caller's deadline
  // cancels the socket.
  asio::awaitable<error_code> send_close_notify();

private:
  asio::awaitable<std::tuple<error_code, std::size_t>> write_some(asio::const_buffer data);
  // Waits for what `want` says, or returns `ec` (the call's failure).
  asio::awaitable<error_code> wait_for(tls_connection_detail::tls_want want, error_code ec);

  struct ssl_free {
    void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
  };
  asio::ip::tcp::socket& socket_;
  std::unique_ptr<SSL, ssl_free> ssl_;
  bool reading_early_ = false; // the read side is still a memory BIO of early bytes
};

} // namespace echo
