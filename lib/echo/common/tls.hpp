#pragma once

// What the server's and the client's TLS code share.

#include "echo/common/asio.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <string>

namespace echo {

using tls_stream = asio::ssl::stream<asio::ip::tcp::socket>;

// Sends our close_notify without waiting for the peer's. Asio's
// async_shutdown does both (it calls SSL_shutdown until the peer's alert
// has been read), which a half-close must not: the peer still has echo to
// send after it. Marking the peer's alert as received while the shutdown
// starts makes one SSL_shutdown, the sending one, enough; the mark is taken
// back as soon as the alert is queued, so a read under way (the client
// reads while it sends) and every later read go on returning data until
// the peer's own close_notify (OpenSSL allows reading after sending ours).
// The caller bounds the wait (a peer that reads nothing keeps the alert
// from going).
asio::awaitable<error_code> send_close_notify(tls_stream& stream);

// Why a handshake or a TLS read failed, in one line: OpenSSL's reason, and
// for a certificate that failed verification, what was wrong with it.
// `ssl` may be null (the server makes none until the client's first byte).
std::string tls_failure_text(const SSL* ssl, const error_code& ec);
inline std::string tls_failure_text(const tls_stream& stream, const error_code& ec) {
  return tls_failure_text(const_cast<tls_stream&>(stream).native_handle(), ec);
}

// "TLSv1.3 TLS_AES_256_GCM_SHA384": what a finished handshake agreed on.
std::string tls_parameters(const SSL* ssl);
inline std::string tls_parameters(const tls_stream& stream) {
  return tls_parameters(const_cast<tls_stream&>(stream).native_handle());
}

// The subject of the peer's certificate ("/CN=client"), or "" without one.
// The peer chose it: log it through log_safe().
std::string peer_certificate_subject(const SSL* ssl);

// Applies what both sides require of every TLS context: TLS 1.2 or newer,
// no compression.
void apply_common_tls_settings(asio::ssl::context& context);

} // namespace echo
