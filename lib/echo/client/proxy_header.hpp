#pragma once

#include "echo/common/asio.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace echo {

// The PROXY protocol header a balancer would send ahead of this connection
// (version 1, text, or 2, binary), naming its local end as the client and
// its remote end as the destination, as `curl --haproxy-protocol` does.
std::string proxy_header_bytes(int version, const boost::asio::ip::tcp::endpoint& source,
                               const boost::asio::ip::tcp::endpoint& destination);

// Writes that header on a connected socket.
asio::awaitable<void> send_proxy_header(boost::asio::ip::tcp::socket& socket, int version);

} // namespace echo
