#include "echo/server/sockets/listener_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace echo {

void set_buffer_sizes(boost::asio::ip::tcp::acceptor& acceptor, std::size_t tcp_buffer) {
  set_buffer_sizes(acceptor, tcp_buffer, tcp_buffer);
}

void set_buffer_sizes(boost::asio::ip::tcp::acceptor& acceptor, std::size_t send_bytes, std::size_t receive_bytes) {
  if (send_bytes != 0) acceptor.set_option(boost::asio::socket_base::send_buffer_size(static_cast<int>(send_bytes)));
  if (receive_bytes != 0)
    acceptor.set_option(boost::asio::socket_base::receive_buffer_size(static_cast<int>(receive_bytes)));
}

inherited_session_options set_inherited_session_options(boost::asio::ip::tcp::acceptor& acceptor, bool plain) {
  const int on = 1;
  const int fd = acceptor.native_handle();
  inherited_session_options set;
  set.no_delay = ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0;
  set.inq = plain && ::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
  return set;
}

} // namespace echo
