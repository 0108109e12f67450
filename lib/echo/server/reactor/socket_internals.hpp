#pragma once

// What echo-server needs from inside an Asio socket, in one place: the
// socket's implementation (its descriptor, its registration with the
// reactor, its state bits) and the reactor itself. Asio keeps these in
// boost::asio::detail, for its own operations; echo-server uses them for one
// operation of its own (when_ready.hpp) and to skip one system call per
// connection (mark_sole_owner). Both hold for the epoll reactor that Boost
// 1.81 uses on Linux; the static_assert stops the build anywhere else, and
// the #error below on any other Boost.

#include <boost/asio/execution/context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/query.hpp>
#include <boost/version.hpp>

// Before the detail headers: on another Boost they may be gone, and a
// missing header would stop the build before this message.
#if BOOST_VERSION != 108100
#error "socket_internals.hpp is written for Boost 1.81 (BOOST_VERSION 108100). Before changing this check, re-read \
in the new Boost: that basic_socket still keeps its io_object_impl in the protected member impl_, that \
reactive_socket_service_base's implementation still has socket_, state_ and reactor_data_, that a socket without \
socket_ops::possible_dup is still closed without an EPOLL_CTL_DEL, and that detail::reactor is still the epoll \
reactor on Linux."
#endif

// After the public headers, which declare what these use.
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/socket_ops.hpp>

#include <type_traits>

namespace echo::socket_internals {

static_assert(std::is_same_v<boost::asio::detail::reactor, boost::asio::detail::epoll_reactor>,
              "echo-server's socket internals are written for Asio's epoll reactor");

// basic_socket shows its implementation only to derived classes. A pointer
// to that member, formed in a derived class, reads it from any socket of the
// type (the class is never instantiated).
template <class Socket>
struct access : Socket {
  static auto& implementation(Socket& socket) { return (socket.*&access::impl_).get_implementation(); }
};

template <class Socket>
auto& implementation(Socket& socket) {
  return access<Socket>::implementation(socket);
}

// The reactor of the socket's io_context. Looking a service up takes the
// context's service registry lock, so the answer is kept per thread.
template <class Socket>
boost::asio::detail::reactor& reactor_of(Socket& socket) {
  thread_local boost::asio::execution_context* cached_context = nullptr;
  thread_local boost::asio::detail::reactor* cached_reactor = nullptr;
  auto& context = boost::asio::query(socket.get_executor(), boost::asio::execution::context);
  if (&context != cached_context) {
    cached_reactor = &boost::asio::use_service<boost::asio::detail::reactor>(context);
    cached_context = &context;
  }
  return *cached_reactor;
}

} // namespace echo::socket_internals

namespace echo {

// A socket Asio was handed (accepted sockets are) might share its open file
// with a dup()ed descriptor, so Asio removes it from epoll explicitly before
// closing it: an EPOLL_CTL_DEL per connection. A socket that came from
// accept() and was never duplicated has no such twin; closing it removes it
// from epoll by itself. Call only for such a socket.
inline void mark_sole_owner(boost::asio::ip::tcp::socket& socket) {
  auto& implementation = socket_internals::implementation(socket);
  implementation.state_ = static_cast<boost::asio::detail::socket_ops::state_type>(
      implementation.state_ & ~boost::asio::detail::socket_ops::possible_dup);
}

} // namespace echo
