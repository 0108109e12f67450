#include "echo/server/admission/rate_limiter.hpp"

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

int allowed_of(rate_limiter& limiter, const boost::asio::ip::address& source, int tries,
               rate_limiter::clock::time_point at) {
  int allowed = 0;
  for (int i = 0; i < tries; ++i) allowed += limiter.allow(source, at) ? 1 : 0;
  return allowed;
}

TEST(RateLimiter, ANewSourceGetsAFewThenEarnsAtTheRateUpToTheBurst) {
  rate_limiter limiter(100, 100);
  const auto source = make_address("192.0.2.1");
  const auto t0 = rate_limiter::clock::now();
  // New: a few datagrams, not a burst.
  EXPECT_EQ(allowed_of(limiter, source, 1000, t0), 8);
  // 50 ms later: 5 more tokens.
  EXPECT_EQ(allowed_of(limiter, source, 100, t0 + 50ms), 5);
  // A source that has been quiet earns a burst, never more, however long the pause.
  EXPECT_EQ(allowed_of(limiter, source, 1000, t0 + 1h), 100);
}

TEST(RateLimiter, SourcesHaveTheirOwnBuckets) {
  rate_limiter limiter(10, 10);
  const auto t0 = rate_limiter::clock::now();
  for (const char* address : {"192.0.2.1", "192.0.2.2", "2001:db8::1"})
    EXPECT_TRUE(limiter.allow(make_address(address), t0));
  const auto later = t0 + 1s; // each bucket full again
  EXPECT_EQ(allowed_of(limiter, make_address("192.0.2.1"), 100, later), 10);
  EXPECT_EQ(allowed_of(limiter, make_address("192.0.2.2"), 100, later), 10);
  EXPECT_EQ(allowed_of(limiter, make_address("2001:db8::1"), 100, later), 10);
}

TEST(RateLimiter, AnEvictedSourceComesBackWithOneTokenNotABurst) {
  rate_limiter limiter(1000, 1000, 1); // one set of four ways
  const auto t0 = rate_limiter::clock::now();
  const auto victim = make_address("192.0.2.1");
  ASSERT_TRUE(limiter.allow(victim, t0));
  EXPECT_EQ(allowed_of(limiter, victim, 10, t0 + 1s), 10); // a tracked, quiet source earned its tokens
  // Four others push it out of the set...
  for (std::uint32_t i = 0; i < rate_limiter::ways; ++i)
    limiter.allow(boost::asio::ip::address_v4(0x0a000000u + i), t0 + 1s + std::chrono::milliseconds(i + 1));
  // ...and it comes back with a few tokens, not the 1000 of a full bucket.
  EXPECT_EQ(allowed_of(limiter, victim, 1000, t0 + 1s + 10ms), 8);
}

TEST(RateLimiter, TheHashIsKeyedPerTable) {
  // Two tables (two processes) put the same addresses in different sets, so
  // addresses found to collide in one are no use against the other.
  rate_limiter a(1, 1, 4096);
  rate_limiter b(1, 1, 4096);
  int same = 0;
  for (std::uint32_t i = 0; i < 256; ++i) {
    const boost::asio::ip::address address = boost::asio::ip::address_v4(0xc0000200u + i);
    same += a.set_of(address) == b.set_of(address) ? 1 : 0;
  }
  EXPECT_LT(same, 8); // about 256/4096 by chance
  // The same key gives the same sets.
  const echo::keyed_hash fixed({1, 2});
  rate_limiter c(1, 1, 4096, fixed);
  rate_limiter d(1, 1, 4096, fixed);
  EXPECT_EQ(c.set_of(make_address("192.0.2.9")), d.set_of(make_address("192.0.2.9")));
}

TEST(RateLimiter, AFloodOfDistinctSourcesDoesNotLiftASteadySource) {
  // A steady source sends ten times its limit for two (simulated) seconds
  // while 20,000 distinct sources flood the table around it.
  constexpr std::uint32_t rate = 1000;
  rate_limiter limiter(rate, rate, 256);
  const auto t0 = rate_limiter::clock::now();
  const auto victim = make_address("192.0.2.1");
  std::uint32_t flood = 0;
  int allowed = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto now = t0 + std::chrono::microseconds(100 * i); // the victim: 10,000 a second
    allowed += limiter.allow(victim, now) ? 1 : 0;
    limiter.allow(boost::asio::ip::address_v4(0x0a000000u + flood++), now);
  }
  EXPECT_EQ(flood, 20000u);
  EXPECT_LE(allowed, 2 * static_cast<int>(rate) + 8); // two seconds at the rate, plus a new source's few
  EXPECT_GE(allowed, 2 * static_cast<int>(rate) - 10);
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
  // The newest source is still tracked: its bucket is the one it just used
  // a token of (a source not tracked would start again with all five).
  const auto last = boost::asio::ip::address_v4(0x0a000000u + flood - 1);
  EXPECT_EQ(allowed_of(limiter, last, 10, now), 4);
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
