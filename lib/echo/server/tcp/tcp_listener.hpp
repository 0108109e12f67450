#pragma once

#include "echo/common/warning_throttle.hpp"
#include "echo/server/admission/tcp_admission.hpp"
#include "echo/server/tcp/tcp_session.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <optional>

namespace echo {

// Accepts TCP connections and spawns one tcp_session coroutine each (a
// tls_session on a TLS listener, one whose context has `tls`). Who is served
// is the server's tcp_admission's to say, shared by every listener: a
// connection it refuses is closed at once and counted. When descriptors or
// memory run out it pauses briefly instead of spinning. The acceptor comes
// ready, every option set (listen_sockets.hpp).
//
// run() and every admission run on the executor the admission belongs to
// (the server's control executor).
class tcp_listener {
public:
  // `session_strands`: a strand per session, for an io_context run on
  // several threads.
  tcp_listener(boost::asio::io_context& io, boost::asio::ip::tcp::acceptor acceptor, tcp_admission& admission,
               bool session_strands, session_context context, std::function<void()> on_session_end);

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  boost::asio::awaitable<void> run();
  // Stops accepting; open sessions go on. Call on the executor run() uses.
  void close();

private:
  // True when the connection may become a session (else it was closed and counted).
  bool admit(boost::asio::ip::tcp::socket& socket, const boost::asio::ip::tcp::endpoint& peer,
             std::optional<tcp_admission::source_key>& source);
  void spawn_session(boost::asio::ip::tcp::socket socket, const boost::asio::ip::tcp::endpoint& peer,
                     std::optional<tcp_admission::source_key> source);

  boost::asio::io_context& io_;
  boost::asio::any_io_executor executor_; // where run() runs, and the admission lives
  tcp_admission& admission_;
  warning_throttle rejected_warning_;
  boost::asio::ip::tcp::acceptor acceptor_;
  const bool session_strands_;
  const session_context context_;
  std::function<void()> on_session_end_;
};

} // namespace echo
