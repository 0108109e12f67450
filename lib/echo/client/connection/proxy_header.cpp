#include "echo/client/connection/proxy_header.hpp"

#include "echo/common/proxy/proxy_protocol.hpp"

#include <boost/asio/write.hpp>

namespace echo {

asio::awaitable<void> send_proxy_header(boost::asio::ip::tcp::socket& socket, int version) {
  // The codec echo-server parses with, so the two cannot drift apart.
  proxy_header header;
  header.version = version;
  header.source = socket.local_endpoint();
  header.destination = socket.remote_endpoint();
  const auto bytes = write_proxy_header(header);
  co_await asio::async_write(socket, asio::buffer(bytes), asio::use_awaitable);
}

} // namespace echo
