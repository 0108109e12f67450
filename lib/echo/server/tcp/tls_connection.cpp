#include "echo/server/tcp/tls_connection.hpp"

#include <boost/asio/socket_base.hpp>
#include <boost/asio/ssl/error.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>

#include <cerrno>

namespace echo {

namespace tls_connection_detail {

std::pair<tls_want, error_code> classify(SSL* ssl, int result) {
  const int saved_errno = errno;
  const int reason = SSL_get_error(ssl, result);
  const unsigned long queued = ERR_get_error();
  ERR_clear_error();
  switch (reason) {
  case SSL_ERROR_WANT_READ:
    return {tls_want::read, {}};
  case SSL_ERROR_WANT_WRITE:
    return {tls_want::write, {}};
  case SSL_ERROR_ZERO_RETURN:
    return {tls_want::nothing, asio::error::eof};
  case SSL_ERROR_SYSCALL:
    if (saved_errno != 0 && queued == 0) return {tls_want::nothing, {saved_errno, asio::error::get_system_category()}};
    break;
  default:
    break;
  }
  if (queued == 0) return {tls_want::nothing, asio::ssl::error::stream_truncated};
  // OpenSSL 3 reports a TCP close without close_notify as this reason; Asio's
  // stream calls it stream_truncated, and so do the session's logs.
  if (ERR_GET_REASON(queued) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
    return {tls_want::nothing, asio::ssl::error::stream_truncated};
  return {tls_want::nothing, {static_cast<int>(queued), asio::error::get_ssl_category()}};
}

} // namespace tls_connection_detail

using tls_connection_detail::classify;
using tls_connection_detail::tls_want;

error_code tls_connection::start(asio::ssl::context& context, std::span<const std::byte> early) {
  error_code ec;
  socket_.non_blocking(true, ec);
  if (ec) return ec;
  ssl_.reset(SSL_new(context.native_handle()));
  if (!ssl_) return asio::error::no_memory;
  ERR_clear_error();
  const int descriptor = socket_.native_handle();
  BIO* socket_bio = BIO_new_socket(descriptor, BIO_NOCLOSE);
  BIO* read_bio = socket_bio;
  if (socket_bio == nullptr) return asio::error::no_memory;
  if (!early.empty()) {
    // The bytes that came with the PROXY header: copied (the header's buffer
    // goes back now) into a memory BIO that says "retry" when empty, so the
    // handshake turns to the socket then.
    read_bio = BIO_new(BIO_s_mem());
    if (read_bio == nullptr || BIO_write(read_bio, early.data(), static_cast<int>(early.size())) <= 0) {
      BIO_free(read_bio);
      BIO_free(socket_bio);
      ERR_clear_error();
      return asio::error::no_memory;
    }
    BIO_set_mem_eof_return(read_bio, -1);
    reading_early_ = true;
  }
  SSL_set_bio(ssl_.get(), read_bio, socket_bio); // takes both (socket_bio once if it is both)
  // Each read of the socket takes what is there, up to a record buffer, not
  // one record header and then its body: half the system calls, and a
  // handshake that fails has read what the client sent with its last flight,
  // so closing sends a FIN behind our alert, not a reset that could destroy
  // it before the client reads it.
  SSL_set_read_ahead(ssl_.get(), 1);
  SSL_set_accept_state(ssl_.get());
  return {};
}

asio::awaitable<error_code> tls_connection::wait_for(tls_want want, error_code ec) {
  if (want == tls_want::nothing) co_return ec;
  const auto what = want == tls_want::read ? asio::socket_base::wait_read : asio::socket_base::wait_write;
  auto [wait_ec] = co_await socket_.async_wait(what, nothrow);
  co_return wait_ec;
}

asio::awaitable<error_code> tls_connection::handshake() {
  for (;;) {
    ERR_clear_error();
    const int result = SSL_do_handshake(ssl_.get());
    if (result == 1) co_return error_code{};
    const auto [want, ec] = classify(ssl_.get(), result);
    if (want == tls_want::read && reading_early_) {
      // The early bytes are used up: the rest comes from the socket.
      reading_early_ = false;
      SSL_set0_rbio(ssl_.get(), BIO_new_socket(socket_.native_handle(), BIO_NOCLOSE));
      continue;
    }
    if (const auto wait_ec = co_await wait_for(want, ec)) co_return wait_ec;
  }
}

asio::awaitable<error_code> tls_connection::wait_writable() { return wait_for(tls_want::write, {}); }

asio::awaitable<std::tuple<error_code, std::size_t>> tls_connection::write_some(asio::const_buffer data) {
  for (;;) {
    std::size_t written = 0;
    ERR_clear_error();
    const int result = SSL_write_ex(ssl_.get(), data.data(), data.size(), &written);
    if (result == 1) co_return std::tuple{error_code{}, written};
    const auto [want, ec] = classify(ssl_.get(), result);
    if (const auto wait_ec = co_await wait_for(want, ec)) co_return std::tuple{wait_ec, std::size_t{0}};
  }
}

asio::awaitable<error_code> tls_connection::send_close_notify() {
  for (;;) {
    ERR_clear_error();
    // 0: ours is sent and the peer's not yet read; 1: both done.
    const int result = SSL_shutdown(ssl_.get());
    if (result >= 0) co_return error_code{};
    const auto [want, ec] = classify(ssl_.get(), result);
    // Wanting to read would mean waiting for the peer's alert: not ours to do.
    if (want == tls_want::read) co_return error_code{};
    if (const auto wait_ec = co_await wait_for(want, ec)) co_return wait_ec;
  }
}

} // namespace echo
