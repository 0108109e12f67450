#pragma once

#include "echo/client/config/client_config.hpp"
#include "echo/client/connection/client_stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <spdlog/logger.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace echo {

// A failure to report in one line on stderr with exit code 1: refused,
// unreachable, timed out, mismatch.
class client_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// "HOST port N", for messages.
std::string where(const client_config& config);

// "tcp HOST port N: WHY" ("tls ..." with --tls): a failure of the exchange with the server, for
// client_error.
std::string failure_text(const client_config& config, const std::string& why);

// Resolves HOST and connects to each address in turn, each within the
// timeout; throws client_error naming the host and the last error.
boost::asio::awaitable<boost::asio::ip::tcp::socket> connect_tcp(const client_config& config, spdlog::logger& log);

// --tls: the client's TLS context (trust, client certificate). Throws
// usage_error naming the option and the file that cannot be used.
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const tls_options& options);

// The TLS handshake on a connected socket, within the timeout, with SNI and
// verification as configured. Throws client_error with a one-line reason
// ("certificate verify failed: self-signed certificate").
boost::asio::awaitable<client_stream> start_tls(boost::asio::ip::tcp::socket socket,
                                                std::shared_ptr<boost::asio::ssl::context> context,
                                                const client_config& config);

// connect_tcp(), then with --tls the handshake: the stream the modes use.
boost::asio::awaitable<client_stream> connect_stream(const client_config& config, spdlog::logger& log);

// Every address HOST resolves to, for UDP.
boost::asio::awaitable<std::vector<boost::asio::ip::udp::endpoint>> resolve_udp(const client_config& config);

} // namespace echo
