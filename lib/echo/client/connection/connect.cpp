#include "echo/client/connection/connect.hpp"

#include "echo/client/connection/proxy_header.hpp"
#include "echo/common/coro/deadline.hpp"
#include "echo/common/duration_text.hpp"
#include "echo/common/net/endpoint_format.hpp"
#include "echo/common/usage_error.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <string_view>

namespace echo {

using asio::ip::tcp;
using asio::ip::udp;
namespace ssl = asio::ssl;

std::string where(const client_config& c) { return c.host + " port " + std::to_string(c.port); }

std::string failure_text(const client_config& c, const std::string& why) {
  return (c.protocol == transport::udp ? "udp " : c.tls ? "tls " : "tcp ") + where(c) + ": " + why;
}

namespace {

// RFC 6761: "localhost" and names under ".localhost" are the loopback
// addresses, answered without asking any resolver (as curl does), so the
// default host works where /etc/hosts is missing or lists one family only.
bool is_localhost(std::string_view host) {
  std::string lower(host);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.ends_with('.')) lower.pop_back();
  return lower == "localhost" || lower.ends_with(".localhost");
}

template <class Protocol>
std::vector<typename Protocol::endpoint> loopback_endpoints(std::uint16_t port) {
  return {{asio::ip::address_v4::loopback(), port}, {asio::ip::address_v6::loopback(), port}};
}

// Every address HOST names, in the resolver's order.
// (-4 and -6 keep one family.)
template <class Protocol>
asio::awaitable<std::vector<typename Protocol::endpoint>> resolve(const client_config& config) {
  std::vector<typename Protocol::endpoint> endpoints;
  if (is_localhost(config.host)) {
    endpoints = loopback_endpoints<Protocol>(config.port);
  } else {
    typename Protocol::resolver resolver(co_await asio::this_coro::executor);
    auto [ec, results] = co_await resolver.async_resolve(config.host, std::to_string(config.port), nothrow);
    if (ec) throw client_error("cannot resolve " + config.host + ": " + ec.message());
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  if (config.family != address_family::any) {
    const bool v4 = config.family == address_family::v4;
    std::erase_if(endpoints, [v4](const auto& e) { return e.address().is_v4() != v4; });
    if (endpoints.empty())
      throw client_error("cannot resolve " + config.host + ": no " + (v4 ? "IPv4" : "IPv6") + " address");
  }
  co_return endpoints;
}

} // namespace

asio::awaitable<tcp::socket> connect_tcp(const client_config& config, spdlog::logger& log) {
  const auto executor = co_await asio::this_coro::executor;
  const auto endpoints = co_await resolve<tcp>(config);
  std::string last_error = "no address";
  for (const auto& endpoint : endpoints) {
    tcp::socket socket(executor);
    error_code ec;
    const bool done = co_await finished_within(config.timeout, [&]() -> asio::awaitable<void> {
      auto [connect_ec] = co_await socket.async_connect(endpoint, nothrow);
      ec = connect_ec;
    }());
    if (done && !ec) {
      socket.set_option(tcp::no_delay(true), ec);
      log.info("connected to {}", endpoint);
      if (config.proxy_header != 0) co_await send_proxy_header(socket, config.proxy_header);
      co_return socket;
    }
    last_error = done ? ec.message() : "timed out after " + seconds_text(config.timeout);
    log.debug("connect to {} failed: {}", endpoint, last_error);
  }
  throw client_error("cannot connect to " + where(config) + ": " + last_error);
}

std::shared_ptr<ssl::context> make_client_tls_context(const tls_options& options) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  apply_common_tls_settings(*context);
  error_code ec;
  const auto fail = [&ec](const char* option, const std::string& path, const char* what) {
    const auto why = ec.message();
    ERR_clear_error();
    return usage_error(std::string("invalid value for ") + option + ": '" + path + "' (not " + what + ": " + why + ")");
  };
  if (!options.ca.empty()) {
    if (context->load_verify_file(options.ca, ec); ec) throw fail("--tls-ca", options.ca, "PEM CA certificates");
  } else if (context->set_default_verify_paths(ec); ec) {
    throw usage_error("cannot load the system's CA certificates: " + ec.message() + " (use --tls-ca FILE)");
  }
  if (!options.cert.empty()) {
    if (context->use_certificate_chain_file(options.cert, ec); ec)
      throw fail("--cert", options.cert, "a PEM certificate chain");
    if (context->use_private_key_file(options.key, ssl::context::pem, ec); ec)
      throw fail("--key", options.key, "a PEM private key");
    if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
      ERR_clear_error();
      throw usage_error("invalid value for --key: '" + options.key + "' (does not match --cert '" + options.cert +
                        "')");
    }
  }
  context->set_verify_mode(options.insecure ? ssl::verify_none : ssl::verify_peer);
  return context;
}

namespace {

// A handshake whose answer was not TLS at all: a plain echo port sends our
// own ClientHello back (a handshake message a client never receives), a
// text protocol sends something that is not a TLS record.
bool answered_without_tls(const error_code& ec) {
  if (ec.category() != asio::error::get_ssl_category()) return false;
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
  case SSL_R_UNEXPECTED_MESSAGE:
  case SSL_R_WRONG_VERSION_NUMBER:
  case SSL_R_PACKET_LENGTH_TOO_LONG:
  case SSL_R_HTTP_REQUEST:
    return true;
  default:
    return false;
  }
}

} // namespace

asio::awaitable<client_stream> start_tls(tcp::socket socket, std::shared_ptr<ssl::context> context,
                                         const client_config& config) {
  client_stream stream(std::move(socket), std::move(context));
  auto& tls = *stream.tls();
  SSL* ssl = tls.native_handle();
  const auto& options = *config.tls;
  const auto name = options.servername.empty() ? config.host : options.servername;
  error_code not_address;
  asio::ip::make_address(name, not_address);
  // SNI carries names only (RFC 6066), never an address.
  // (SSL_set_tlsext_host_name(), spelled out: the macro casts C-style.)
  if (not_address)
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(name.c_str()));
  if (!options.insecure) {
    // The certificate must name the host: a DNS name, or an IP address SAN.
    if (not_address)
      SSL_set1_host(ssl, name.c_str());
    else
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
  }
  error_code ec;
  const bool done = co_await finished_within(config.timeout, [&]() -> asio::awaitable<void> {
    auto [handshake_ec] = co_await tls.async_handshake(ssl::stream_base::client, nothrow);
    ec = handshake_ec;
  }());
  if (!done) throw client_error(failure_text(config, "no TLS handshake within " + seconds_text(config.timeout)));
  if (ec && answered_without_tls(ec))
    throw client_error(
        failure_text(config, "the server does not speak TLS on port " + std::to_string(config.port) +
                                 " (it answered the TLS handshake with something else: " + tls_failure_text(tls, ec) +
                                 "); an echo-server's TLS port is the one set with --tls-port"));
  if (ec) throw client_error(failure_text(config, tls_failure_text(tls, ec)));
  co_return stream;
}

asio::awaitable<client_stream> connect_stream(const client_config& config, spdlog::logger& log) {
  // The context first: a file that cannot be used is a usage error, found
  // before any connection is made.
  auto context = config.tls ? make_client_tls_context(*config.tls) : nullptr;
  auto socket = co_await connect_tcp(config, log);
  if (!context) co_return client_stream(std::move(socket));
  auto stream = co_await start_tls(std::move(socket), std::move(context), config);
  log.info("TLS: {}", tls_parameters(*stream.tls()));
  co_return stream;
}

asio::awaitable<std::vector<udp::endpoint>> resolve_udp(const client_config& config) {
  co_return co_await resolve<udp>(config);
}

} // namespace echo
