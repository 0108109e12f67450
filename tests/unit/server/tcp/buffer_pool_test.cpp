#include "echo/server/tcp/buffer_pool.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using echo::buffer_pool;

TEST(BufferPool, AReturnedBufferIsReusedSoSteadyStateAllocatesNothing) {
  const std::byte* first = nullptr;
  {
    const auto lease = buffer_pool::acquire();
    ASSERT_TRUE(lease);
    EXPECT_EQ(lease.bytes().size(), buffer_pool::buffer_size);
    first = lease.bytes().data();
  }
  const auto cached = buffer_pool::cached();
  EXPECT_GE(cached, 1u);
  for (int message = 0; message < 1000; ++message) {
    const auto lease = buffer_pool::acquire();
    EXPECT_EQ(lease.bytes().data(), first); // the same memory, every time
  }
  EXPECT_EQ(buffer_pool::cached(), cached);
}

TEST(BufferPool, TheCacheStaysBounded) {
  std::vector<buffer_pool::lease> many;
  for (std::size_t i = 0; i < buffer_pool::cached_per_thread * 2; ++i) many.push_back(buffer_pool::acquire());
  many.clear(); // half go back to the cache, the rest are freed
  EXPECT_EQ(buffer_pool::cached(), buffer_pool::cached_per_thread);
}

TEST(BufferPool, MovedFromLeaseHoldsNothing) {
  auto a = buffer_pool::acquire();
  auto b = std::move(a);
  EXPECT_FALSE(a); // NOLINT(bugprone-use-after-move): checking the moved-from state on purpose
  EXPECT_TRUE(b);
}

} // namespace
