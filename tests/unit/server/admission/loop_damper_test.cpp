#include "echo/server/admission/loop_damper.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <string>

namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::udp;
using echo::loop_damper;
using namespace std::chrono_literals;

std::span<const std::byte> bytes(const std::string& text) { return std::as_bytes(std::span(text)); }

const udp::endpoint echo_service(make_address("192.0.2.7"), 40000);

// Datagrams circulating between us and another echo service `round_trip`
// away: each comes back only if we answered it. Returns how long the loop
// lived (or 100 s, for a loop that never ends) and counts the echoes.
loop_damper::clock::duration run_loop(loop_damper& damper, std::deque<std::string> in_flight,
                                      loop_damper::clock::duration round_trip, unsigned* answered = nullptr) {
  const auto start = loop_damper::clock::now();
  auto now = start;
  auto last_echo = start;
  unsigned echoes = 0;
  const auto step = round_trip / static_cast<long>(in_flight.size());
  while (!in_flight.empty() && now - start < 100s) {
    auto datagram = std::move(in_flight.front());
    in_flight.pop_front();
    now += step;
    if (damper.allow(echo_service, bytes(datagram), now)) {
      ++echoes;
      last_echo = now;
      in_flight.push_back(std::move(datagram)); // the other side echoes it back
    }
  }
  if (answered != nullptr) *answered = echoes;
  return last_echo - start;
}

TEST(LoopDamper, AnEchoLoopNextDoorDiesAfterLoopTime) {
  for (const std::chrono::microseconds round_trip : {20us, 200us, 4000us}) {
    loop_damper damper;
    unsigned answered = 0;
    const auto lifetime = run_loop(damper, {"spoofed"}, round_trip, &answered);
    EXPECT_GE(lifetime, loop_damper::loop_time - round_trip) << round_trip.count();
    EXPECT_LT(lifetime, loop_damper::loop_time + round_trip) << round_trip.count();
    EXPECT_EQ(answered, static_cast<unsigned>((loop_damper::loop_time + round_trip - 1us) / round_trip))
        << round_trip.count();
  }
}

TEST(LoopDamper, SeveralCirculatingDatagramsAllDie) {
  std::deque<std::string> injected;
  for (std::size_t k = 0; k < loop_damper::remembered; ++k) injected.push_back("datagram " + std::to_string(k));
  loop_damper damper;
  EXPECT_LT(run_loop(damper, injected, 1ms), loop_damper::loop_time + 1ms);
}

TEST(LoopDamper, ALoopFartherAwayThanTheGapIsNotRecognised) {
  // Bounded by the rate limit instead: one datagram every 5 ms at most.
  loop_damper damper;
  EXPECT_GE(run_loop(damper, {"spoofed"}, loop_damper::reflection_gap), 99s);
}

// A client that sends the same payload each time its answer came back and
// `interval` passed, for `count` requests: how many are answered.
unsigned poll(loop_damper& damper, loop_damper::clock::duration interval, int count) {
  auto now = loop_damper::clock::now();
  unsigned answered = 0;
  for (int i = 0; i < count; ++i, now += interval) answered += damper.allow(echo_service, bytes("ping"), now);
  return answered;
}

TEST(LoopDamper, ClientsPollingWithTheSamePayloadAreAlwaysAnswered) {
  // Before: 54 of 300 at 10 ms, 28 of 40 at 100 ms, 15 of 16 at 300 ms.
  for (const auto interval : {1000ms, 600ms, 300ms, 100ms, 10ms, 6ms}) {
    loop_damper damper;
    EXPECT_EQ(poll(damper, interval, 10000), 10000u) << interval.count() << " ms";
  }
}

TEST(LoopDamper, ABurstOfIdenticalRequestsShorterThanLoopTimeIsAnswered) {
  // `yes ping | head -1000 | echo-client --udp` on loopback: each line as
  // soon as the last was answered, 100 us apart.
  loop_damper damper;
  auto now = loop_damper::clock::now();
  for (int i = 0; i < 1000; ++i, now += 100us) ASSERT_TRUE(damper.allow(echo_service, bytes("ping"), now)) << i;
}

TEST(LoopDamper, DistinctDatagramsBackToBackAreAlwaysAnswered) {
  loop_damper damper;
  auto now = loop_damper::clock::now();
  for (int i = 0; i < 10000; ++i, now += 10us)
    ASSERT_TRUE(damper.allow(echo_service, bytes("request " + std::to_string(i)), now)) << i;
}

// Identical datagrams 1 ms apart from `start` for loop_time: the peer is
// then damped. Returns when it was refused; its last echo was 1 ms before.
loop_damper::clock::time_point damp(loop_damper& damper, const udp::endpoint& peer,
                                    loop_damper::clock::time_point start) {
  auto now = start;
  for (; now < start + loop_damper::loop_time; now += 1ms) EXPECT_TRUE(damper.allow(peer, bytes("same"), now));
  EXPECT_FALSE(damper.allow(peer, bytes("same"), now));
  return now;
}

TEST(LoopDamper, APeerIsAnsweredAgainOnceItPausesOrChanges) {
  loop_damper damper;
  auto now = damp(damper, echo_service, loop_damper::clock::now());
  EXPECT_FALSE(damper.allow(echo_service, bytes("same"), now + 1ms));
  EXPECT_TRUE(damper.allow(echo_service, bytes("something else"), now + 1ms));
  now = damp(damper, echo_service, now + 1ms + loop_damper::reflection_window); // after a pause: a new run
  const auto last_echo = now - 1ms;
  // A pause shorter than the window is a loop's hiccup: still not answered.
  EXPECT_FALSE(damper.allow(echo_service, bytes("same"), last_echo + loop_damper::reflection_gap));
  EXPECT_FALSE(damper.allow(echo_service, bytes("same"), last_echo + loop_damper::reflection_window - 1us));
  EXPECT_TRUE(damper.allow(echo_service, bytes("same"), last_echo + loop_damper::reflection_window));
}

TEST(LoopDamper, ALoopThatStallsNowAndThenStillDies) {
  // 100 us round trips, and every 50th takes 20 ms (a scheduler's hiccup).
  loop_damper damper;
  const auto start = loop_damper::clock::now();
  auto now = start;
  int answered = 0;
  for (int i = 0; i < 100000 && damper.allow(echo_service, bytes("spoofed"), now); ++i) {
    ++answered;
    now += i % 50 == 49 ? 20ms : 100us;
  }
  EXPECT_LT(now - start, 2 * loop_damper::loop_time);
  EXPECT_LT(answered, 2500);
}

TEST(LoopDamper, AClientPollingOnAJitteryScheduleIsAlwaysAnswered) {
  // Every 10 ms on average, but one request in four comes 1 ms after the
  // last answer (the one before it was late).
  loop_damper damper;
  auto now = loop_damper::clock::now();
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(damper.allow(echo_service, bytes("ping"), now)) << i;
    now += i % 4 == 3 ? 1ms : 13ms;
  }
}

TEST(LoopDamper, PeersAreAddressAndPort) {
  loop_damper damper;
  const auto now = damp(damper, echo_service, loop_damper::clock::now());
  EXPECT_TRUE(damper.allow(udp::endpoint(echo_service.address(), 40001), bytes("same"), now));
  EXPECT_TRUE(damper.allow(udp::endpoint(make_address("192.0.2.8"), 40000), bytes("same"), now));
  // An IPv4 peer is the same however the dual-stack socket spells it.
  EXPECT_FALSE(damper.allow(udp::endpoint(make_address("::ffff:192.0.2.7"), 40000), bytes("same"), now));
}

} // namespace
