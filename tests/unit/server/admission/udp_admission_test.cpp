// udp_admission: which rule decides a datagram's fate, and what a datagram
// dropped by an early rule costs its source in the later ones (nothing).
// Time is passed explicitly, so no test sleeps.
//
// Each test pins one or more pairs of rules to their order: it sends
// datagrams that break both rules of a pair and expects the earlier rule's
// verdict, so any reordering of check() puts some pair the wrong way round
// and fails the test named after it.
#include "echo/server/admission/udp_admission.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::udp;
using echo::loop_damper;
using echo::port_filter;
using echo::udp_admission;
using echo::udp_admission_settings;
using echo::udp_verdict;
using namespace std::chrono_literals;

constexpr std::uint16_t own_port = 7007;
constexpr std::size_t max_datagram = 100;

// Blocks the privileged ports (DNS, NTP, chargen, ...), not ours.
udp_admission make_admission(std::uint32_t rate_limit, const char* blocked = "0-1023") {
  udp_admission_settings settings;
  settings.max_datagram = max_datagram;
  settings.blocked_source_ports = port_filter::parse(blocked);
  settings.rate_limit = rate_limit;
  return udp_admission(std::move(settings), own_port);
}

std::span<const std::byte> bytes(const std::string& text) { return std::as_bytes(std::span(text)); }

// A whole datagram: received as it was sent.
udp_verdict check(udp_admission& admission, const std::string& payload, const udp::endpoint& from,
                  loop_damper::clock::time_point now) {
  return admission.check(bytes(payload), payload.size(), from, now);
}

// How many distinct datagrams `from` gets echoed at `now` before the first
// that is not (gives up at 1000).
unsigned echoes_until_refused(udp_admission& admission, const udp::endpoint& from, loop_damper::clock::time_point now,
                              udp_verdict* refusal = nullptr) {
  for (unsigned i = 0; i < 1000; ++i) {
    const auto verdict = check(admission, "request " + std::to_string(i), from, now);
    if (verdict != udp_verdict::echo) {
      if (refusal != nullptr) *refusal = verdict;
      return i;
    }
  }
  return 1000;
}

const auto source = make_address("192.0.2.1");
const udp::endpoint client(source, 40000);
const udp::endpoint client_other_port(source, 40001);
const udp::endpoint from_blocked_port(source, 53);
const udp::endpoint from_own_port(source, own_port);

// Pairs: size before own port, blocked port, loop and rate limit.
TEST(UdpAdmission, OversizeOrTruncatedIsTooLargeWhateverElseIsWrong) {
  auto admission = make_admission(2);
  const auto now = loop_damper::clock::now();
  const std::string oversize(max_datagram + 1, 'x');
  const std::string fits(max_datagram, 'x');

  EXPECT_EQ(check(admission, oversize, from_blocked_port, now), udp_verdict::too_large);
  EXPECT_EQ(check(admission, oversize, from_own_port, now), udp_verdict::too_large);
  // Truncated on arrival: 50 bytes kept of 80 sent (under max_datagram).
  const std::string kept(50, 'y');
  EXPECT_EQ(admission.check(bytes(kept), 80, from_blocked_port, now), udp_verdict::too_large);
  EXPECT_EQ(admission.check(bytes(kept), 80, from_own_port, now), udp_verdict::too_large);
  EXPECT_EQ(admission.check(bytes(kept), 80, client, now), udp_verdict::too_large);

  // The same oversize datagram again and again, at once, from an allowed
  // port: always too_large, never a loop nor over the rate limit.
  for (int i = 0; i < 50; ++i) ASSERT_EQ(check(admission, oversize, client, now), udp_verdict::too_large) << i;

  // None of that spent the source's two tokens, nor taught the damper
  // anything: the largest allowed datagram is echoed, twice.
  EXPECT_EQ(check(admission, fits, client, now), udp_verdict::echo);
  EXPECT_EQ(check(admission, fits, client, now), udp_verdict::echo);
  EXPECT_EQ(check(admission, fits, client, now), udp_verdict::rate_limited);
}

// Pairs: own port before blocked port, loop and rate limit.
TEST(UdpAdmission, FromOurOwnPortIsOwnPortBlockedOrNot) {
  auto now = loop_damper::clock::now();
  {
    // Our port is in no block list.
    auto admission = make_admission(2, "0-1023");
    EXPECT_EQ(check(admission, "hello", from_own_port, now), udp_verdict::own_port);
  }
  {
    // Our port is blocked too: own_port still names the reason.
    auto admission = make_admission(2, "7000-7999");
    EXPECT_EQ(check(admission, "hello", from_own_port, now), udp_verdict::own_port);
    EXPECT_EQ(check(admission, "hello", udp::endpoint(source, 7008), now), udp_verdict::blocked_port);
  }
  {
    // The same datagram bounced back at once, many times (what another
    // echo service does): own_port every time, and it costs the source
    // nothing.
    auto admission = make_admission(2);
    for (int i = 0; i < 50; ++i, now += 1ms)
      ASSERT_EQ(check(admission, "bounced", from_own_port, now), udp_verdict::own_port) << i;
    EXPECT_EQ(echoes_until_refused(admission, client, now), 2u);
  }
}

// Pairs: blocked port before loop and rate limit.
TEST(UdpAdmission, ABlockedPortSpendsNoneOfItsSourcesRateLimit) {
  auto admission = make_admission(2);
  auto now = loop_damper::clock::now();
  // The same payload, back to back: it would look like a loop, and far
  // exceeds 2 a second.
  for (int i = 0; i < 100; ++i, now += 1ms)
    ASSERT_EQ(check(admission, "reflected", from_blocked_port, now), udp_verdict::blocked_port) << i;

  // The same address from an allowed port still has its whole burst.
  udp_verdict refusal = udp_verdict::echo;
  EXPECT_EQ(echoes_until_refused(admission, client, now, &refusal), 2u);
  EXPECT_EQ(refusal, udp_verdict::rate_limited);
}

// Pair: loop before rate limit.
TEST(UdpAdmission, ALoopingPeerEndsAsLoopAndSpendsNoRateTokens) {
  // Two admissions with the same history of echoes; the first then sees a
  // long run of looping datagrams, the other does not. Each is then asked
  // how many more datagrams the looping source may have echoed (from
  // another port: another peer for the damper, the same source for the
  // rate limiter): the loop must have cost nothing.
  const auto start = loop_damper::clock::now();
  auto looped = make_admission(1000);
  auto control = make_admission(1000);
  auto now = start;
  // The other service echoes each of our echoes 4 ms later: for loop_time
  // they are answered (the rate allows it: 8 tokens to start with, one more
  // every millisecond)...
  for (unsigned i = 0; now - start < loop_damper::loop_time; ++i, now += 4ms) {
    ASSERT_EQ(check(looped, "spoofed", client, now), udp_verdict::echo) << i;
    ASSERT_EQ(check(control, "spoofed", client, now), udp_verdict::echo) << i;
  }
  // ... and then none.
  for (int i = 0; i < 100; ++i) ASSERT_EQ(check(looped, "spoofed", client, now), udp_verdict::loop) << i;

  const auto left_control = echoes_until_refused(control, client_other_port, now);
  EXPECT_GT(left_control, 0u);
  udp_verdict refusal = udp_verdict::echo;
  EXPECT_EQ(echoes_until_refused(looped, client_other_port, now, &refusal), left_control);
  EXPECT_EQ(refusal, udp_verdict::rate_limited);
}

TEST(UdpAdmission, WithoutLoopDampingALoopIsEchoed) {
  udp_admission_settings settings;
  settings.max_datagram = max_datagram;
  settings.loop_damping = false;
  udp_admission admission(std::move(settings), own_port);
  auto now = loop_damper::clock::now();
  for (int i = 0; i < 10000; ++i, now += 100us)
    ASSERT_EQ(check(admission, "spoofed", client, now), udp_verdict::echo) << i;
}

TEST(UdpAdmission, ASourceOverTheRateIsRateLimitedAfterItsBurst) {
  auto admission = make_admission(2);
  auto now = loop_damper::clock::now();
  EXPECT_EQ(check(admission, "one", client, now), udp_verdict::echo);
  EXPECT_EQ(check(admission, "two", client, now), udp_verdict::echo);
  EXPECT_EQ(check(admission, "three", client, now), udp_verdict::rate_limited);
  // Per address, not per port.
  EXPECT_EQ(check(admission, "four", client_other_port, now), udp_verdict::rate_limited);
  // Another address has its own burst.
  const udp::endpoint stranger(make_address("198.51.100.9"), 40000);
  EXPECT_EQ(echoes_until_refused(admission, stranger, now), 2u);

  // Two a second: one more after half a second, two after a second.
  now += 500ms;
  EXPECT_EQ(echoes_until_refused(admission, client, now), 1u);
  now += 1s;
  EXPECT_EQ(echoes_until_refused(admission, client, now), 2u);
}

TEST(UdpAdmission, NoRateLimitWhenOff) {
  auto admission = make_admission(0);
  const auto now = loop_damper::clock::now();
  EXPECT_EQ(echoes_until_refused(admission, client, now), 1000u);
}

} // namespace
