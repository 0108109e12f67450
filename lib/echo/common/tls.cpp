#include "echo/common/tls.hpp"

#include <boost/asio/ssl/error.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

namespace echo {

asio::awaitable<error_code> send_close_notify(tls_stream& stream) {
  auto [ec] = co_await asio::async_initiate<decltype(nothrow), void(error_code)>(
      [&stream](auto handler) {
        SSL* ssl = stream.native_handle();
        const int before = SSL_get_shutdown(ssl);
        SSL_set_shutdown(ssl, before | SSL_RECEIVED_SHUTDOWN);
        // Runs SSL_shutdown before it returns: the alert is queued, and
        // only its write is left to do...
        stream.async_shutdown(std::move(handler));
        // ...so the mark goes at once, before a read under way can see it.
        SSL_set_shutdown(ssl, (SSL_get_shutdown(ssl) & ~SSL_RECEIVED_SHUTDOWN) | (before & SSL_RECEIVED_SHUTDOWN));
      },
      nothrow);
  co_return ec;
}

std::string tls_failure_text(const SSL* ssl, const error_code& ec) {
  const auto verified = ssl == nullptr ? X509_V_OK : SSL_get_verify_result(ssl);
  if (verified != X509_V_OK)
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verified);
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
    return "the connection was closed during the TLS handshake";
  if (ec == asio::error::operation_aborted) return "cancelled";
  return ec.message();
}

std::string tls_parameters(const SSL* ssl) {
  return std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
}

std::string peer_certificate_subject(const SSL* ssl) {
  const std::unique_ptr<X509, decltype(&X509_free)> certificate(SSL_get1_peer_certificate(ssl), X509_free);
  if (!certificate) return {};
  char* text = X509_NAME_oneline(X509_get_subject_name(certificate.get()), nullptr, 0);
  if (text == nullptr) return {};
  std::string subject(text);
  OPENSSL_free(text);
  return subject;
}

void apply_common_tls_settings(asio::ssl::context& context) {
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);
}

} // namespace echo
