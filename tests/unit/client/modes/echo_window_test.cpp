#include "echo/client/modes/echo_window.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace {

using echo::echo_window;

std::span<const char> bytes(const std::string& s) { return {s.data(), s.size()}; }

TEST(EchoWindow, MatchingEchoEmptiesIt) {
  echo_window w(8);
  w.push(bytes("hello"));
  EXPECT_EQ(w.room(), 3u);
  EXPECT_FALSE(w.match(bytes("hel")));
  EXPECT_FALSE(w.match(bytes("lo")));
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.matched(), 5u);
}

TEST(EchoWindow, FirstDifferingByteIsReported) {
  echo_window w(8);
  w.push(bytes("abcdef"));
  EXPECT_EQ(w.match(bytes("abXdef")), 2u);
  EXPECT_EQ(w.matched(), 2u); // "ab" matched and is forgotten; "cdef" stays
  EXPECT_EQ(w.size(), 4u);
}

TEST(EchoWindow, MoreBackThanSentIsReported) {
  echo_window w(8);
  w.push(bytes("ab"));
  EXPECT_EQ(w.match(bytes("abc")), 2u);
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.match(bytes("x")), 0u); // nothing outstanding at all
}

TEST(EchoWindow, WrapsAroundTheRing) {
  echo_window w(5);
  w.push(bytes("abcd"));
  EXPECT_FALSE(w.match(bytes("abc")));
  w.push(bytes("efgh")); // tail wraps past the end of the ring
  EXPECT_EQ(w.room(), 0u);
  EXPECT_FALSE(w.match(bytes("defgh"))); // so does the comparison
  EXPECT_EQ(w.matched(), 8u);
  w.push(bytes("ij"));
  EXPECT_EQ(w.match(bytes("iX")), 1u); // and a mismatch after the wrap
  EXPECT_EQ(w.matched(), 9u);
}

TEST(EchoWindow, RandomChunkingAgreesWithTheStream) {
  std::mt19937 rng(42);
  std::string stream(100000, '\0');
  for (auto& c : stream) c = static_cast<char>(rng());
  echo_window w(4096);
  std::size_t sent = 0, checked = 0;
  while (checked < stream.size()) {
    const auto push = std::min<std::size_t>({rng() % 3000, w.room(), stream.size() - sent});
    w.push({stream.data() + sent, push});
    sent += push;
    const auto back = std::min<std::size_t>(rng() % 3000, sent - checked);
    ASSERT_FALSE(w.match({stream.data() + checked, back})) << "at " << checked;
    checked += back;
  }
  EXPECT_EQ(w.matched(), stream.size());
  EXPECT_EQ(w.size(), 0u);
}

} // namespace
