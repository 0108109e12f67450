#include "echo/server/listen_sockets.hpp"

#include "echo/common/asio.hpp"
#include "echo/server/metrics/metrics_http.hpp"
#include "echo/server/sockets/listener_options.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <system_error>

namespace echo {
namespace {

using asio::ip::tcp;
using asio::ip::udp;

[[noreturn]] void fail_bind(const char* what, const asio::ip::address& address, std::uint16_t port,
                            const error_code& ec) {
  const auto shown = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  throw std::system_error(ec, std::string("cannot ") + what + " " + shown + ":" + std::to_string(port));
}

tcp::acceptor open_acceptor(asio::io_context& io, const asio::ip::address& address, std::uint16_t port,
                            const server_config& config) {
  tcp::acceptor acceptor(io);
  const tcp::endpoint endpoint(address, port);
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (ec) fail_bind("open TCP socket for", address, port, ec);
  set_bind_options(acceptor, address, config.reuse_port);
  try {
    set_buffer_sizes(acceptor, config.tcp_buffer);
  } catch (const boost::system::system_error& e) {
    fail_bind("set --tcp-buffer on", address, port, e.code());
  }
  acceptor.bind(endpoint, ec);
  if (ec) fail_bind("listen (TCP) on", address, port, ec);
  acceptor.listen(config.backlog, ec);
  if (ec) fail_bind("listen (TCP) on", address, port, ec);
  return acceptor;
}

udp::socket open_udp(asio::io_context& io, const asio::ip::address& address, std::uint16_t port,
                     const server_config& config, error_code& ec) {
  udp::socket socket(io);
  const udp::endpoint endpoint(address, port);
  socket.open(endpoint.protocol(), ec);
  if (ec) return socket;
  set_bind_options(socket, address, config.reuse_port);
  socket.bind(endpoint, ec);
  return socket;
}

// "::" unless told otherwise; "0.0.0.0" where this machine has no IPv6.
// Probed with a plain socket() call: nothing else needs to exist for it.
asio::ip::address listen_address(const server_config& config) {
  if (!config.bind_address.empty()) return asio::ip::make_address(config.bind_address);
  const int probe = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return asio::ip::address_v4::any();
  ::close(probe);
  return asio::ip::address_v6::any();
}

} // namespace

listen_sockets open_listen_sockets(asio::io_context& io, const server_config& config) {
  const auto address = listen_address(config);
  // With --port 0, take the port the OS gave TCP for UDP too, and try again
  // if another socket holds it for UDP.
  constexpr int attempts = 16;
  for (int attempt = 1;; ++attempt) {
    listen_sockets sockets;
    std::uint16_t port = config.port;
    if (config.tcp) {
      sockets.tcp.push_back(open_acceptor(io, address, config.port, config));
      port = sockets.tcp.back().local_endpoint().port();
    }
    if (config.udp) {
      error_code ec;
      sockets.udp.push_back(open_udp(io, address, port, config, ec));
      if (ec == asio::error::address_in_use && config.tcp && config.port == 0 && attempt < attempts) continue;
      if (ec) fail_bind("bind (UDP) on", address, port, ec);
    }
    if (config.tls_port) sockets.tls.push_back(open_acceptor(io, address, *config.tls_port, config));
    return sockets;
  }
}

listen_sockets adopt_inherited_sockets(asio::io_context& io, const server_config& config,
                                       const std::vector<inherited_socket>& inherited) {
  listen_sockets sockets;
  for (const auto& socket : inherited) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getsockname(socket.fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::system_error(errno, std::generic_category(), "inherited " + describe(socket) + ": getsockname");
    const bool v6 = address.ss_family == AF_INET6;
    error_code ec;
    if (socket.type != inherited_socket::kind::udp) {
      tcp::acceptor acceptor(io);
      acceptor.assign(v6 ? tcp::v6() : tcp::v4(), socket.fd, ec);
      if (ec) throw std::system_error(ec, "inherited " + describe(socket));
      try {
        set_buffer_sizes(acceptor, config.tcp_buffer);
      } catch (const boost::system::system_error& e) {
        throw std::system_error(e.code(), "inherited " + describe(socket));
      }
      (socket.type == inherited_socket::kind::tls ? sockets.tls : sockets.tcp).push_back(std::move(acceptor));
    } else {
      udp::socket udp_socket(io);
      udp_socket.assign(v6 ? udp::v6() : udp::v4(), socket.fd, ec);
      if (ec) throw std::system_error(ec, "inherited " + describe(socket));
      sockets.udp.push_back(std::move(udp_socket));
    }
  }
  return sockets;
}

tcp::acceptor open_metrics_acceptor(asio::io_context& io, const http_address& where) {
  const auto address = asio::ip::make_address(where.address);
  const tcp::endpoint endpoint(address, where.port);
  tcp::acceptor acceptor(io);
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) {
    // Before listen(), so that every metrics connection has small kernel
    // buffers from its first segment: a client that never reads cannot
    // make the kernel hold megabytes of answers for it.
    try {
      set_buffer_sizes(acceptor, metrics_http::send_buffer_bytes, metrics_http::receive_buffer_bytes);
    } catch (const boost::system::system_error& e) {
      ec = e.code();
    }
  }
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail_bind("listen (metrics) on", address, where.port, ec);
  return acceptor;
}

} // namespace echo
