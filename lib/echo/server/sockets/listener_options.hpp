#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>

#include <sys/socket.h>

#include <cstddef>
#include <type_traits>

namespace echo {

// Every option of an echo listener, set in one place.
//
// Before bind() (set_bind_options): SO_REUSEADDR on TCP listeners (a restart
// binds while old connections linger in TIME_WAIT); on TCP listeners and UDP
// sockets alike, IPV6_V6ONLY off on an IPv6 address ("::" serves IPv4 too)
// and SO_REUSEPORT with --reuse-port.
//
// On TCP listeners, which accepted sockets inherit (Linux): that saves a
// system call per session, and the session code depends on some of them.
// - SO_SNDBUF and SO_RCVBUF (--tcp-buffer, 0 = kernel autotuning): set
//   before listen(), so every accepted socket has both sizes and the window
//   scale they imply (set_buffer_sizes).
// - TCP_NODELAY: an echo goes out at once. Should the listener refuse it,
//   each session sets it (session_context::no_delay_inherited says which).
// - TCP_INQ, plain listeners only: each read of a plain session says
//   whether anything is left (tcp/read_when_ready.hpp); without it, on a
//   kernel before 4.18, one more read per message.

// SO_REUSEPORT as an Asio settable socket option.
class reuse_port_option {
public:
  explicit reuse_port_option(bool on) : value_(on ? 1 : 0) {}
  template <class Protocol>
  int level(const Protocol&) const {
    return SOL_SOCKET;
  }
  template <class Protocol>
  int name(const Protocol&) const {
    return SO_REUSEPORT;
  }
  template <class Protocol>
  const int* data(const Protocol&) const {
    return &value_;
  }
  template <class Protocol>
  std::size_t size(const Protocol&) const {
    return sizeof(value_);
  }

private:
  int value_;
};

// Throws boost::system::system_error on failure.
template <class Socket>
void set_bind_options(Socket& socket, const boost::asio::ip::address& address, bool reuse_port) {
  if constexpr (std::is_same_v<Socket, boost::asio::ip::tcp::acceptor>)
    socket.set_option(boost::asio::ip::tcp::acceptor::reuse_address(true));
  if (address.is_v6()) socket.set_option(boost::asio::ip::v6_only(false));
  if (reuse_port) socket.set_option(reuse_port_option(true));
}

// Throws boost::system::system_error on failure. Call before listen() on a
// socket we bind (an inherited one is listening already: the sizes then
// apply to the connections accepted from now on).
void set_buffer_sizes(boost::asio::ip::tcp::acceptor& acceptor, std::size_t tcp_buffer);
// The same with a size for each (the metrics acceptor's fixed caps); 0 leaves one to the kernel.
void set_buffer_sizes(boost::asio::ip::tcp::acceptor& acceptor, std::size_t send_bytes, std::size_t receive_bytes);

// Which of the options sessions inherit took. Failures are not errors:
// sessions make up for them.
struct inherited_session_options {
  bool no_delay = false; // sessions need not set TCP_NODELAY
  bool inq = false;      // reads report what is left (plain listeners only)
};

// Sets TCP_NODELAY and, on a plain listener (not TLS: its sessions read
// through OpenSSL), TCP_INQ.
inherited_session_options set_inherited_session_options(boost::asio::ip::tcp::acceptor& acceptor, bool plain);

} // namespace echo
