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

// Datagrams circulating between us and another echo service 20 ms away:
// each comes back only if we answered it. Returns how many we answered
// before none was left (or 10,000, for a loop that never ends).
unsigned run_loop(loop_damper& damper, std::deque<std::string> in_flight) {
  auto now = loop_damper::clock::now();
  unsigned answered = 0;
  while (!in_flight.empty() && answered < 10000) {
    auto datagram = std::move(in_flight.front());
    in_flight.pop_front();
    now += 20ms / 8;
    if (damper.allow(echo_service, bytes(datagram), now)) {
      ++answered;
      in_flight.push_back(std::move(datagram)); // the other side echoes it back
    }
  }
  return answered;
}

TEST(LoopDamper, AnEchoLoopDiesAfterAFewRoundTrips) {
  loop_damper damper;
  EXPECT_EQ(run_loop(damper, {"spoofed"}), loop_damper::max_reflections + 1);
}

TEST(LoopDamper, SeveralCirculatingDatagramsAllDie) {
  std::deque<std::string> injected;
  for (std::size_t k = 0; k < loop_damper::remembered; ++k) injected.push_back("datagram " + std::to_string(k));
  loop_damper damper;
  EXPECT_LE(run_loop(damper, injected), loop_damper::remembered + loop_damper::max_reflections);
}

TEST(LoopDamper, AHealthCheckRepeatingItsTextEverySecondIsAlwaysAnswered) {
  for (const auto interval : {1000ms, 600ms}) {
    loop_damper damper;
    auto now = loop_damper::clock::now();
    for (int i = 0; i < 100; ++i, now += interval)
      ASSERT_TRUE(damper.allow(echo_service, bytes("health check"), now)) << "check " << i;
  }
}

TEST(LoopDamper, DistinctDatagramsBackToBackAreAlwaysAnswered) {
  loop_damper damper;
  auto now = loop_damper::clock::now();
  for (int i = 0; i < 10000; ++i, now += 10us)
    ASSERT_TRUE(damper.allow(echo_service, bytes("request " + std::to_string(i)), now)) << i;
}

TEST(LoopDamper, APeerIsAnsweredAgainOnceItPausesOrChanges) {
  loop_damper damper;
  auto now = loop_damper::clock::now();
  for (unsigned i = 0; i <= loop_damper::max_reflections + 3; ++i, now += 1ms)
    damper.allow(echo_service, bytes("same"), now);
  EXPECT_FALSE(damper.allow(echo_service, bytes("same"), now));
  EXPECT_TRUE(damper.allow(echo_service, bytes("something else"), now));
  now += loop_damper::reflection_window;
  EXPECT_TRUE(damper.allow(echo_service, bytes("same"), now));
}

TEST(LoopDamper, PeersAreAddressAndPort) {
  loop_damper damper;
  auto now = loop_damper::clock::now();
  for (unsigned i = 0; i <= loop_damper::max_reflections + 3; ++i, now += 1ms)
    damper.allow(echo_service, bytes("same"), now);
  EXPECT_FALSE(damper.allow(echo_service, bytes("same"), now));
  EXPECT_TRUE(damper.allow(udp::endpoint(echo_service.address(), 40001), bytes("same"), now));
  EXPECT_TRUE(damper.allow(udp::endpoint(make_address("192.0.2.8"), 40000), bytes("same"), now));
  // An IPv4 peer is the same however the dual-stack socket spells it.
  EXPECT_FALSE(damper.allow(udp::endpoint(make_address("::ffff:192.0.2.7"), 40000), bytes("same"), now));
}

} // namespace
