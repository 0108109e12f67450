#pragma once

#include <boost/asio/ip/address.hpp>

namespace echo {

// An IPv4 peer seen on a dual-stack IPv6 socket (::ffff:10.0.0.1) as the
// IPv4 address it is; any other address unchanged.
inline boost::asio::ip::address unmapped(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}

} // namespace echo
