#include "echo/server/admission/cidr_list.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace {

using boost::asio::ip::make_address;
using echo::cidr_list;

TEST(CidrList, PrefixesAndBareAddresses) {
  const auto list = cidr_list::parse("10.0.0.0/8,192.0.2.7,2001:db8::/32,::1");
  EXPECT_TRUE(list.contains(make_address("10.255.1.2")));
  EXPECT_FALSE(list.contains(make_address("11.0.0.1")));
  EXPECT_TRUE(list.contains(make_address("192.0.2.7")));
  EXPECT_FALSE(list.contains(make_address("192.0.2.8")));
  EXPECT_TRUE(list.contains(make_address("2001:db8:ffff::1")));
  EXPECT_FALSE(list.contains(make_address("2001:db9::1")));
  EXPECT_TRUE(list.contains(make_address("::1")));
  EXPECT_EQ(list.to_string(), "10.0.0.0/8,192.0.2.7/32,2001:db8::/32,::1/128");
}

TEST(CidrList, PrefixesThatEndInsideAByte) {
  const auto list = cidr_list::parse("172.16.0.0/12");
  EXPECT_TRUE(list.contains(make_address("172.31.255.255")));
  EXPECT_FALSE(list.contains(make_address("172.32.0.0")));
  EXPECT_TRUE(cidr_list::parse("0.0.0.0/0").contains(make_address("203.0.113.9")));
}

TEST(CidrList, IPv4ClientsOnADualStackSocketMatchIPv4Ranges) {
  const auto list = cidr_list::parse("10.0.0.0/8");
  EXPECT_TRUE(list.contains(make_address("::ffff:10.1.2.3")));
  EXPECT_FALSE(list.contains(make_address("::ffff:11.1.2.3")));
  EXPECT_TRUE(cidr_list::parse("::ffff:10.0.0.0/104").contains(make_address("10.9.9.9")));
}

TEST(CidrList, BadElementsAreNamed) {
  for (const auto* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "nope", "10.0.0.0/8,,::1", ",", "10.0.0.0/x"}) {
    try {
      cidr_list::parse(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::invalid_argument&) {}
  }
}

} // namespace
