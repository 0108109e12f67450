#include "echo/server/tcp/tls_context.hpp"

#include "echo/common/tls.hpp"
#include "echo/common/usage_error.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace echo {
namespace {

namespace ssl = asio::ssl;

// "invalid value for --tls-cert: '/etc/x.pem': WHY"
[[noreturn]] void fail(const char* option, const std::string& path, const std::string& why) {
  throw usage_error(std::string("invalid value for ") + option + ": '" + path + "': " + why);
}

// A missing or unreadable file is named as such, before OpenSSL's parse
// errors, which say less.
void check_readable(const char* option, const std::string& path) {
  std::ifstream file(path);
  if (!file) fail(option, path, std::string("cannot read it: ") + std::strerror(errno));
}

// OpenSSL's reason for the last failure, and the error queue cleared.
std::string openssl_reason(const error_code& ec) {
  ERR_clear_error();
  return ec.message();
}

// Where note_client_hello() leaves its string. (Not SSL app data: Asio's
// stream keeps its verify callback there and deletes what it finds.)
int offered_alpn_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// ALPN: the client's list, written for the log; no protocol is selected.
int note_alpn(SSL* ssl, const unsigned char**, unsigned char*, const unsigned char* in, unsigned int inlen, void*) {
  if (auto* offered = static_cast<std::string*>(SSL_get_ex_data(ssl, offered_alpn_index()))) {
    offered->clear();
    // Wire format: a length byte, then that many bytes, repeated.
    for (unsigned int i = 0; i < inlen;) {
      const unsigned int n = in[i++];
      if (n > inlen - i) break;
      if (!offered->empty()) offered->push_back(',');
      offered->append(reinterpret_cast<const char*>(in + i), n);
      i += n;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

} // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const tls_files& files) {
  check_readable("--tls-cert", files.cert);
  check_readable("--tls-key", files.key);
  if (!files.client_ca.empty()) check_readable("--tls-client-ca", files.client_ca);

  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  apply_common_tls_settings(*context);
  context->set_options(ssl::context::single_dh_use);
  // No renegotiation (a client could make us redo handshakes at will);
  // TLS 1.3 key updates are not renegotiations and still work.
  SSL_CTX_set_options(context->native_handle(), SSL_OP_NO_RENEGOTIATION);
  auto* native = context->native_handle();
  // OpenSSL frees a session's record buffers while it is idle.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  error_code ec;
  if (context->use_certificate_chain_file(files.cert, ec); ec)
    fail("--tls-cert", files.cert, "not a PEM certificate chain (" + openssl_reason(ec) + ")");
  if (context->use_private_key_file(files.key, ssl::context::pem, ec); ec) {
    if (ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      fail("--tls-key", files.key, "does not match the certificate in --tls-cert '" + files.cert + "'");
    }
    fail("--tls-key", files.key, "not a PEM private key (" + openssl_reason(ec) + ")");
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    fail("--tls-key", files.key, "does not match the certificate in --tls-cert '" + files.cert + "'");
  }
  if (!files.client_ca.empty()) {
    if (context->load_verify_file(files.client_ca, ec); ec)
      fail("--tls-client-ca", files.client_ca, "not PEM CA certificates (" + openssl_reason(ec) + ")");
    // Tell clients which CAs we accept, so they pick the right certificate.
    SSL_CTX_set_client_CA_list(native, SSL_load_client_CA_file(files.client_ca.c_str()));
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  // Resumed sessions need an id context, or OpenSSL refuses them when it
  // verifies clients.
  static constexpr unsigned char session_context[] = "echo-server";
  SSL_CTX_set_session_id_context(native, session_context, sizeof session_context - 1);
  SSL_CTX_set_alpn_select_cb(native, note_alpn, nullptr);
  return context;
}

std::string describe_certificate(ssl::context& context) {
  X509* certificate = SSL_CTX_get0_certificate(context.native_handle());
  if (certificate == nullptr) return "no certificate";
  std::string text = "serial ";
  if (BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr)) {
    if (char* hex = BN_bn2hex(serial)) {
      text += hex;
      OPENSSL_free(hex);
    }
    BN_free(serial);
  }
  if (char* subject = X509_NAME_oneline(X509_get_subject_name(certificate), nullptr, 0)) {
    text += std::string(", subject ") + subject;
    OPENSSL_free(subject);
  }
  if (BIO* out = BIO_new(BIO_s_mem())) {
    if (ASN1_TIME_print(out, X509_get0_notAfter(certificate)) == 1) {
      char* data = nullptr;
      const long n = BIO_get_mem_data(out, &data);
      text += ", expires " + std::string(data, static_cast<std::size_t>(n));
    }
    BIO_free(out);
  }
  return text;
}

void note_client_hello(SSL* ssl, std::string* offered) { SSL_set_ex_data(ssl, offered_alpn_index(), offered); }

tls_contexts::tls_contexts(tls_files files) : files_(std::move(files)), current_(make_server_tls_context(files_)) {}

std::shared_ptr<ssl::context> tls_contexts::current() const {
  const std::lock_guard lock(mutex_);
  return current_;
}

std::optional<std::string> tls_contexts::reload() {
  try {
    auto fresh = make_server_tls_context(files_);
    const std::lock_guard lock(mutex_);
    current_ = std::move(fresh);
    return std::nullopt;
  } catch (const usage_error& e) {
    return std::string(e.what());
  }
}

} // namespace echo
