#pragma once

#include "echo/common/asio.hpp"
#include "echo/common/tls.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <openssl/ssl.h>

#include <memory>
#include <utility>

namespace echo {

// The connection to the server: plain TCP, or TLS over TCP (--tls), as one
// Asio stream. async_read_some and async_write_some go to whichever it is,
// so the modes, asio::async_write and asio::async_read_until work on both
// without knowing which.
class client_stream {
public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;

  explicit client_stream(boost::asio::ip::tcp::socket socket) : plain_(std::move(socket)) {}
  // TLS, before its handshake. The stream keeps the context alive.
  client_stream(boost::asio::ip::tcp::socket socket, std::shared_ptr<boost::asio::ssl::context> context)
      : plain_(socket.get_executor()), context_(std::move(context)),
        tls_(std::make_unique<tls_stream>(std::move(socket), *context_)) {}

  executor_type get_executor() { return socket().get_executor(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return plain_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return plain_.async_write_some(buffers, std::forward<Token>(token));
  }

  // The TCP connection underneath.
  boost::asio::ip::tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  // The TLS stream; null for plain TCP.
  tls_stream* tls() { return tls_.get(); }

  // Tells the server we are done sending, and goes on reading: a TCP
  // half-close, or over TLS our close_notify. The caller bounds the wait.
  asio::awaitable<error_code> finish_sending() {
    if (tls_) co_return co_await send_close_notify(*tls_);
    error_code ec;
    plain_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
    co_return ec;
  }
  // The end of an exchange that went well: over TLS, our close_notify if
  // it has not gone yet (--no-shutdown, interactive mode), so the server
  // sees a clean end rather than a truncated session. The caller bounds it.
  asio::awaitable<void> finish() {
    if (tls_ && (SSL_get_shutdown(tls_->native_handle()) & SSL_SENT_SHUTDOWN) == 0) co_await send_close_notify(*tls_);
  }
  void cancel(error_code& ec) { socket().cancel(ec); }
  void close(error_code& ec) { socket().close(ec); }

private:
  boost::asio::ip::tcp::socket plain_; // unused (never opened) under TLS
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::unique_ptr<tls_stream> tls_;
};

// The end of what the server sends: its FIN, or over TLS its close_notify,
// or (tolerated: the bytes themselves are checked) a TCP close without one.
inline bool is_end_of_stream(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

} // namespace echo
