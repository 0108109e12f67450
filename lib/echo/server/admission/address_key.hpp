#pragma once

#include <boost/asio/ip/address.hpp>

#include <array>

namespace echo {

// An address as 16 bytes, for tables keyed by client: IPv4 as its
// IPv4-mapped IPv6 form, so a dual-stack socket counts an IPv4 client once
// however it is spelled.
inline std::array<unsigned char, 16> address_key(const boost::asio::ip::address& address) {
  if (address.is_v4()) return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, address.to_v4()).to_bytes();
  return address.to_v6().to_bytes();
}

} // namespace echo
