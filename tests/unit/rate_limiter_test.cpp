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
  const auto capacity = limiter.capacity();
  ASSERT_EQ(capacity, 64u * rate_limiter::ways);
  const auto now = rate_limiter::clock::now();
  constexpr std::uint32_t flood = 100000;
  for (std::uint32_t i = 0; i < flood; ++i) limiter.allow(boost::asio::ip::address_v4(0x0a000000u + i), now);
  // Far more sources than slots: the table filled up and then evicted, it
  // did not grow.
  EXPECT_EQ(limiter.capacity(), capacity);
  EXPECT_EQ(limiter.tracked(), capacity);
  // The newest source is still tracked: its bucket is the one it just used.
  const auto last = boost::asio::ip::address_v4(0x0a000000u + flood - 1);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.allow(last, now));
  EXPECT_FALSE(limiter.allow(last, now));
}

TEST(RateLimiter, RecentSourcesSurviveEviction) {
  // One set of four ways; a flood of 1000 addresses passes through it, each
  // evicting the slot seen longest ago. A steady source that keeps sending
  // is never the oldest, so it keeps its empty bucket and stays limited.
  rate_limiter limiter(1, 1, 1);
  const auto t0 = rate_limiter::clock::now();
  const auto steady = make_address("192.0.2.99");
  ASSERT_TRUE(limiter.allow(steady, t0));
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const auto at = t0 + std::chrono::microseconds(2 * i + 1);
    limiter.allow(boost::asio::ip::address_v4(0x0a000000u + i), at);
    ASSERT_FALSE(limiter.allow(steady, at + std::chrono::microseconds(1))) << "after " << i + 1 << " flood sources";
  }
  EXPECT_EQ(limiter.tracked(), rate_limiter::ways);
}

TEST(RateLimiter, TheOldestSlotIsEvictedFirst) {
  rate_limiter limiter(1, 1, 1);
  const auto t0 = rate_limiter::clock::now();
  // Four sources fill the set, each using its token.
  for (std::uint32_t i = 0; i < rate_limiter::ways; ++i)
    ASSERT_TRUE(limiter.allow(boost::asio::ip::address_v4(0x0a000000u + i), t0 + std::chrono::milliseconds(i)));
  // A fifth evicts the first (the oldest); the others keep their empty buckets.
  ASSERT_TRUE(limiter.allow(make_address("192.0.2.200"), t0 + std::chrono::milliseconds(10)));
  for (std::uint32_t i = 1; i < rate_limiter::ways; ++i)
    EXPECT_FALSE(limiter.allow(boost::asio::ip::address_v4(0x0a000000u + i), t0 + std::chrono::milliseconds(11)));
}

} // namespace
