#include "echo/client/proxy_header.hpp"

#include "echo/common/net/unmapped_address.hpp"

#include <boost/asio/write.hpp>

#include <stdexcept>

namespace echo {
namespace {

using boost::asio::ip::tcp;

void put16(std::string& out, unsigned short value) {
  out += static_cast<char>(value >> 8);
  out += static_cast<char>(value & 0xFF);
}

} // namespace

std::string proxy_header_bytes(int version, const tcp::endpoint& source, const tcp::endpoint& destination) {
  // The two ends of one socket are of one family once IPv4-mapped addresses
  // are written as IPv4.
  const auto from = unmapped(source.address());
  const auto to = unmapped(destination.address());
  const bool v4 = from.is_v4();
  if (version == 1) {
    return std::string("PROXY ") + (v4 ? "TCP4 " : "TCP6 ") + from.to_string() + " " + to.to_string() + " " +
           std::to_string(source.port()) + " " + std::to_string(destination.port()) + "\r\n";
  }
  std::string out("\r\n\r\n\0\r\nQUIT\n", 12);
  out += static_cast<char>(0x21);             // version 2, command PROXY
  out += static_cast<char>(v4 ? 0x11 : 0x21); // TCP over IPv4, or over IPv6
  put16(out, v4 ? 12 : 36);
  for (const auto& a : {from, to}) {
    if (v4) {
      for (const auto b : a.to_v4().to_bytes()) out += static_cast<char>(b);
    } else {
      for (const auto b : a.to_v6().to_bytes()) out += static_cast<char>(b);
    }
  }
  put16(out, source.port());
  put16(out, destination.port());
  return out;
}

asio::awaitable<void> send_proxy_header(tcp::socket& socket, int version) {
  const auto header = proxy_header_bytes(version, socket.local_endpoint(), socket.remote_endpoint());
  co_await asio::async_write(socket, asio::buffer(header), asio::use_awaitable);
}

} // namespace echo
