#include "echo/server/admission/tcp_admission.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

namespace {

using boost::asio::ip::make_address;
using echo::cidr_list;
using echo::tcp_admission;
using echo::tcp_admission_settings;
using echo::tcp_rejection;

// The open-session count the server would report: admitted places held.
struct fake_server {
  std::uint64_t open = 0;
};

tcp_admission make(const tcp_admission_settings& settings, fake_server& server) {
  return tcp_admission(settings, [&server] { return server.open; });
}

TEST(TcpAdmission, PerSourceLimitIsOneTableForEveryListener) {
  fake_server server;
  auto admission = make({0, 2, {}}, server);
  const auto client = make_address("192.0.2.1");
  std::optional<tcp_admission::source_key> a;
  std::optional<tcp_admission::source_key> b;
  std::optional<tcp_admission::source_key> c;
  // Whichever listener the connections come through (one admission serves
  // them all), the third from one address is refused.
  EXPECT_FALSE(admission.admit(client, a));
  EXPECT_FALSE(admission.admit(make_address("::ffff:192.0.2.1"), b)); // the same client on a dual-stack socket
  EXPECT_EQ(admission.admit(client, c), tcp_rejection::max_connections_per_source);
  EXPECT_FALSE(c);
  EXPECT_EQ(admission.open_from(client), 2u);
  admission.release(*a);
  EXPECT_FALSE(admission.admit(client, c));
  ASSERT_TRUE(c);
}

TEST(TcpAdmission, OrderIsTrustedThenServerLimitThenPerSource) {
  fake_server server;
  auto admission = make({1, 1, cidr_list::parse("10.0.0.0/8")}, server);
  std::optional<tcp_admission::source_key> source;
  // Untrusted wins over everything, and takes no per-source place.
  server.open = 5;
  EXPECT_EQ(admission.admit(make_address("192.0.2.1"), source), tcp_rejection::untrusted);
  EXPECT_EQ(admission.open_from(make_address("192.0.2.1")), 0u);
  // The server-wide limit before the per-source one: no place taken either.
  EXPECT_EQ(admission.admit(make_address("10.0.0.1"), source), tcp_rejection::max_connections);
  EXPECT_EQ(admission.open_from(make_address("10.0.0.1")), 0u);
  server.open = 0;
  EXPECT_FALSE(admission.admit(make_address("10.0.0.1"), source));
  EXPECT_EQ(admission.open_from(make_address("10.0.0.1")), 1u);
}

TEST(TcpAdmission, NoLimitsTakeNoPlaces) {
  fake_server server;
  auto admission = make({}, server);
  std::optional<tcp_admission::source_key> source;
  server.open = 1'000'000;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(admission.admit(make_address("192.0.2.1"), source));
  EXPECT_FALSE(source); // nothing to give back
  EXPECT_EQ(admission.open_from(make_address("192.0.2.1")), 0u);
}

} // namespace
