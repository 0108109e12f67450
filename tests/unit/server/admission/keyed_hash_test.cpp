#include "echo/server/admission/keyed_hash.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

std::vector<std::byte> counting_bytes(std::size_t n) {
  std::vector<std::byte> bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::byte>(i);
  return bytes;
}

// The key 00 01 .. 0f, as two little-endian words.
const echo::keyed_hash reference({0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull});

TEST(KeyedHash, MatchesTheSipHash24ReferenceVectors) {
  EXPECT_EQ(reference(counting_bytes(0)), 0x726fdb47dd0e0e31ull);
  // The worked example of the SipHash paper: the 15 bytes 00 .. 0e.
  EXPECT_EQ(reference(counting_bytes(15)), 0xa129ca6149be45e5ull);
}

TEST(KeyedHash, RandomKeysDiffer) {
  const auto a = echo::keyed_hash::random();
  const auto b = echo::keyed_hash::random();
  const auto data = counting_bytes(16);
  EXPECT_NE(a(data), b(data));
}

} // namespace
