#include "echo/server/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace {

using boost::asio::ip::make_address;
using echo::rate_limiter;
using namespace std::chrono_literals;

TEST(RateLimiter, ZeroRateAllowsEverything) {
  rate_limiter limiter(0, 0);
  const auto now = rate_limiter::clock::now();
  for (int i = 0; i < 10000; ++i) EXPECT_TRUE(limiter.allow(make_address("10.0.0.1"), now));
  EXPECT_EQ(limiter.capacity(), 0u);
}

TEST(RateLimiter, AllowsTheBurstThenRefillsAtTheRate) {
  rate_limiter limiter(100, 100);
  const auto source = make_address("192.0.2.1");
  const auto t0 = rate_limiter::clock::now();
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += limiter.allow(source, t0) ? 1 : 0;
  EXPECT_EQ(allowed, 100);
  // 50 ms later: 5 more tokens.
  allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += limiter.allow(source, t0 + 50ms) ? 1 : 0;
  EXPECT_EQ(allowed, 5);
  // Never more than the burst, however long the pause.
  allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += limiter.allow(source, t0 + 1h) ? 1 : 0;
  EXPECT_EQ(allowed, 100);
}

TEST(RateLimiter, SourcesHaveTheirOwnBuckets) {
  rate_limiter limiter(10, 10);
  const auto now = rate_limiter::clock::now();
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(limiter.allow(make_address("192.0.2.1"), now));
  EXPECT_FALSE(limiter.allow(make_address("192.0.2.1"), now));
  EXPECT_TRUE(limiter.allow(make_address("192.0.2.2"), now));
  EXPECT_TRUE(limiter.allow(make_address("2001:db8::1"), now));
}

TEST(RateLimiter, MappedIpv4IsTheSameSource) {
  rate_limiter limiter(1, 1);
  const auto now = rate_limiter::clock::now();
  EXPECT_TRUE(limiter.allow(make_address("192.0.2.7"), now));
  EXPECT_FALSE(limiter.allow(make_address("::ffff:192.0.2.7"), now));
}

TEST(RateLimiter, TableStaysBoundedUnderASpoofedFlood) {
  rate_limiter limiter(5, 5, 64);
  const auto now = rate_limiter::clock::now();
  for (std::uint32_t i = 0; i < 100000; ++i) limiter.allow(boost::asio::ip::address_v4(0x0a000000u + i), now);
  EXPECT_EQ(limiter.capacity(), 64u * rate_limiter::ways);
  EXPECT_LE(limiter.tracked(), limiter.capacity());
}

TEST(RateLimiter, RecentSourcesSurviveEviction) {
  // A steady source keeps its (empty) bucket while a flood passes through.
  rate_limiter limiter(1, 1, 1);
  const auto t0 = rate_limiter::clock::now();
  const auto steady = make_address("192.0.2.99");
  EXPECT_TRUE(limiter.allow(steady, t0));
  for (std::uint32_t i = 0; i < 2; ++i) {
    limiter.allow(boost::asio::ip::address_v4(0x0a000000u + i), t0 + 1ms);
    EXPECT_FALSE(limiter.allow(steady, t0 + 2ms));
  }
}

} // namespace
