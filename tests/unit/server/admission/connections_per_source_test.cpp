#include "echo/server/admission/connections_per_source.hpp"

#include <gtest/gtest.h>

namespace {

using boost::asio::ip::make_address;
using echo::connections_per_source;

TEST(ConnectionsPerSource, CountsUpToTheLimitAndFreesOnRemove) {
  connections_per_source table;
  const auto client = connections_per_source::key_of(make_address("192.0.2.1"));
  EXPECT_TRUE(table.try_add(client, 2));
  EXPECT_TRUE(table.try_add(client, 2));
  EXPECT_FALSE(table.try_add(client, 2));
  EXPECT_EQ(table.count(client), 2u);
  EXPECT_TRUE(table.try_add(connections_per_source::key_of(make_address("192.0.2.2")), 2)); // another client
  table.remove(client);
  EXPECT_TRUE(table.try_add(client, 2));
}

TEST(ConnectionsPerSource, AnAddressLeavesWithItsLastSession) {
  connections_per_source table;
  const auto client = connections_per_source::key_of(make_address("192.0.2.1"));
  ASSERT_TRUE(table.try_add(client, 5));
  EXPECT_FALSE(table.try_add(connections_per_source::key_of(make_address("192.0.2.9")), 0));
  EXPECT_EQ(table.sources(), 1u); // a refused client leaves nothing behind
  table.remove(client);
  EXPECT_EQ(table.sources(), 0u);
  table.remove(client); // harmless
  EXPECT_EQ(table.count(client), 0u);
}

TEST(ConnectionsPerSource, Ipv4AndMappedIpv4AreOneClient) {
  EXPECT_EQ(connections_per_source::key_of(make_address("192.0.2.1")),
            connections_per_source::key_of(make_address("::ffff:192.0.2.1")));
  EXPECT_NE(connections_per_source::key_of(make_address("192.0.2.1")),
            connections_per_source::key_of(make_address("192.0.2.2")));
}

TEST(ConnectionsPerSource, Ipv6CountsPerSlash64) {
  const auto a = connections_per_source::key_of(make_address("2001:db8:1:2::1"));
  EXPECT_EQ(a, connections_per_source::key_of(make_address("2001:db8:1:2:aaaa:bbbb:cccc:dddd")));
  EXPECT_NE(a, connections_per_source::key_of(make_address("2001:db8:1:3::1")));
}

} // namespace
