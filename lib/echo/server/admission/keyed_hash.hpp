#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace echo {

// SipHash-2-4: a hash keyed with a secret, so that whoever chooses the input
// (a spoofed source address) cannot choose where it lands in a table. Used
// for the per-source tables of the UDP endpoint, each with a key drawn at
// random when it is made.
class keyed_hash {
public:
  using key_type = std::array<std::uint64_t, 2>;

  explicit keyed_hash(key_type key) noexcept : key_(key) {}
  // A key from std::random_device: different in every process.
  static keyed_hash random();

  std::uint64_t operator()(std::span<const std::byte> data) const noexcept;

private:
  key_type key_;
};

} // namespace echo
