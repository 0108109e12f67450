#pragma once

#include "echo/server/admission/cidr_list.hpp"
#include "echo/server/admission/connections_per_source.hpp"
#include "echo/server/tcp/tcp_session.hpp"
#include "echo/common/warning_throttle.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <optional>

namespace echo {

struct listener_settings {
  std::size_t max_connections = 0;            // 0 = unlimited
  std::size_t max_connections_per_source = 0; // 0 = unlimited
  bool session_strands = false;               // true when the io_context runs on several threads
  cidr_list trusted;                          // --proxy-trusted: empty = anyone may connect
};

// Accepts TCP connections and spawns one tcp_session coroutine each (a
// tls_session on a TLS listener, one whose context has `tls`). Past
// max_connections, or max_connections_per_source from one client, a new
// connection is closed at once and counted. When descriptors or memory run
// out it pauses briefly instead of spinning.
class tcp_listener {
public:
  tcp_listener(boost::asio::io_context& io, boost::asio::ip::tcp::acceptor acceptor, listener_settings settings,
               session_context context, std::function<void()> on_session_end);

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  boost::asio::awaitable<void> run();
  // Stops accepting; open sessions go on. Call on the executor run() uses.
  void close();

private:
  // True when the connection may become a session (else it was closed and counted).
  bool admit(boost::asio::ip::tcp::socket& socket, const boost::asio::ip::tcp::endpoint& peer,
             std::optional<connections_per_source::key_type>& source);
  void spawn_session(boost::asio::ip::tcp::socket socket, const boost::asio::ip::tcp::endpoint& peer,
                     std::optional<connections_per_source::key_type> source);

  boost::asio::io_context& io_;
  boost::asio::any_io_executor executor_; // where run() runs, and the per-source table lives
  connections_per_source per_source_;
  warning_throttle rejected_warning_;
  boost::asio::ip::tcp::acceptor acceptor_;
  listener_settings settings_;
  session_context context_;
  std::function<void()> on_session_end_;
};

} // namespace echo
