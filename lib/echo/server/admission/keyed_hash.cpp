#include "echo/server/admission/keyed_hash.hpp"

#include <bit>
#include <cstring>
#include <random>

namespace echo {
namespace {

struct sip_state {
  std::uint64_t v0, v1, v2, v3;

  void round() noexcept {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }

  void absorb(std::uint64_t m) noexcept {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

std::uint64_t load_le64(const std::byte* p) noexcept {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | std::to_integer<std::uint64_t>(p[i]);
  return value;
}

} // namespace

keyed_hash keyed_hash::random() {
  std::random_device device;
  const auto word = [&device] { return (std::uint64_t{device()} << 32) | device(); };
  return keyed_hash({word(), word()});
}

std::uint64_t keyed_hash::operator()(std::span<const std::byte> data) const noexcept {
  sip_state s{key_[0] ^ 0x736f6d6570736575ull, key_[1] ^ 0x646f72616e646f6dull, key_[0] ^ 0x6c7967656e657261ull,
              key_[1] ^ 0x7465646279746573ull};
  const auto size = data.size();
  const auto* p = data.data();
  for (std::size_t left = size; left >= 8; left -= 8, p += 8) s.absorb(load_le64(p));
  // The last 0-7 bytes, with the length's low byte on top.
  std::uint64_t last = std::uint64_t{size & 0xff} << 56;
  for (std::size_t i = 0; i < size % 8; ++i) last |= std::to_integer<std::uint64_t>(p[i]) << (8 * i);
  s.absorb(last);
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

} // namespace echo
