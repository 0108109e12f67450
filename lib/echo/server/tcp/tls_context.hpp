#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace echo {

// The files a TLS listener serves with (--tls-cert, --tls-key, --tls-client-ca).
struct tls_files {
  std::string cert;      // PEM certificate chain, the server's own first
  std::string key;       // PEM private key
  std::string client_ca; // PEM CA certificates; set: mutual TLS
};

// A server context from `files`: TLS 1.2 or newer, mutual TLS when a client
// CA is given, SNI and ALPN noted for the session's log (see
// note_client_hello()). Throws usage_error naming the option and the file
// that could not be used and why.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const tls_files& files);

// "serial 1A2B, subject CN=localhost, expires Jan  1 00:00:00 2027 GMT": the
// certificate a context serves, for the log.
std::string describe_certificate(boost::asio::ssl::context& context);

// Before a handshake: where the ALPN protocols the client offers are written
// ("h2,http/1.1"), for the session's debug line. `offered` must outlive
// the handshake. The server selects none: echo speaks no protocol.
void note_client_hello(SSL* ssl, std::string* offered);

// The context new TLS sessions get. reload() builds a new one from the same
// files (SIGHUP); sessions already open keep the one they started with (they
// hold it), and a reload that fails leaves the current one in place. Safe
// to use from any thread.
class tls_contexts {
public:
  explicit tls_contexts(tls_files files); // loads them now; throws usage_error
  std::shared_ptr<boost::asio::ssl::context> current() const;
  // Nothing on success; else why (naming the option and the file).
  std::optional<std::string> reload();

private:
  tls_files files_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> current_;
};

} // namespace echo
