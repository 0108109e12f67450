#include "echo/common/warning_throttle.hpp"

#include <gtest/gtest.h>

namespace {

using echo::warning_throttle;
using namespace std::chrono_literals;

TEST(WarningThrottle, OnePerInterval) {
  warning_throttle throttle(1s);
  const auto t0 = warning_throttle::clock::now();
  EXPECT_TRUE(throttle.allow(t0));
  EXPECT_FALSE(throttle.allow(t0));
  EXPECT_FALSE(throttle.allow(t0 + 999ms));
  EXPECT_TRUE(throttle.allow(t0 + 1s));
  EXPECT_FALSE(throttle.allow(t0 + 1500ms));
  EXPECT_TRUE(throttle.allow(t0 + 10s));
}

} // namespace
