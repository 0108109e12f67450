#pragma once

#include "echo/server/server_config.hpp"
#include "echo/server/systemd.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>

#include <vector>

namespace echo {

// The sockets a server listens on, bound and ready: TCP acceptors, UDP
// sockets and TLS acceptors. Bound by us, there is one of each protocol
// served; passed by systemd, as many as the socket unit has.
struct listen_sockets {
  std::vector<boost::asio::ip::tcp::acceptor> tcp;
  std::vector<boost::asio::ip::udp::socket> udp;
  std::vector<boost::asio::ip::tcp::acceptor> tls;
};

// Binds what `config` asks for (--bind, --port, --tls-port, --backlog,
// --reuse-port).
// With --port 0, TCP and UDP still share one port: the one the OS gave TCP.
// Throws std::system_error naming the address on failure.
listen_sockets open_listen_sockets(boost::asio::io_context& io, const server_config& config);

// Takes over sockets systemd passed (see take_inherited_sockets()); binds
// nothing. --tcp-buffer still applies to the TCP listeners.
listen_sockets adopt_inherited_sockets(boost::asio::io_context& io, const server_config& config,
                                       const std::vector<inherited_socket>& inherited);

// The --metrics listener: a plain TCP acceptor on exactly that address (an
// IPv6 one serves IPv6 only). Throws std::system_error naming the address.
boost::asio::ip::tcp::acceptor open_metrics_acceptor(boost::asio::io_context& io, const http_address& where);

} // namespace echo
