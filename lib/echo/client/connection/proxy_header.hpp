#pragma once

#include "echo/common/asio.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace echo {

// --proxy-header: writes on a connected socket the PROXY protocol header a
// balancer would send ahead of this connection (version 1, text, or 2,
// binary), naming its local end as the client and its remote end as the
// destination, as `curl --haproxy-protocol` does.
asio::awaitable<void> send_proxy_header(boost::asio::ip::tcp::socket& socket, int version);

} // namespace echo
