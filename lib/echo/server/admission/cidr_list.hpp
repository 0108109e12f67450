#pragma once

#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace echo {

// Address ranges such as "10.0.0.0/8,::1/128" (--proxy-trusted). A bare
// address is one host (/32, /128). An IPv4 client seen on a dual-stack
// socket (::ffff:10.0.0.1) matches the IPv4 ranges.
class cidr_list {
public:
  // Throws std::invalid_argument naming the element that is wrong.
  static cidr_list parse(const std::string& text);

  bool empty() const { return ranges_.empty(); }
  bool contains(const boost::asio::ip::address& address) const;
  std::string to_string() const;

private:
  struct range {
    boost::asio::ip::address network;
    unsigned prefix = 0;
  };
  std::vector<range> ranges_;
};

} // namespace echo
