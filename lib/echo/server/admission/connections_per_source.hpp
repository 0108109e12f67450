#pragma once

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstddef>
#include <unordered_map>

namespace echo {

// Open TCP sessions per client, for --max-connections-per-source (xinetd's
// per_source). A client is an IPv4 address, or an IPv6 /64: one host's
// privacy addresses, or one subscriber's prefix, count as one. Memory grows
// with the open sessions only: an address leaves the table with its last
// session. Not thread-safe: the listener's executor owns it.
class connections_per_source {
public:
  using key_type = std::array<unsigned char, 16>;

  // IPv4 and IPv4-mapped IPv6 give the same key; IPv6 keeps its first 64 bits.
  static key_type key_of(const boost::asio::ip::address& address) noexcept;

  // Counts one more session from `address` unless it has `limit` already.
  bool try_add(const key_type& key, std::size_t limit);
  void remove(const key_type& key) noexcept;
  std::size_t count(const key_type& key) const noexcept;
  std::size_t sources() const noexcept { return open_.size(); }

private:
  struct key_hash {
    std::size_t operator()(const key_type& key) const noexcept;
  };
  std::unordered_map<key_type, std::size_t, key_hash> open_;
};

} // namespace echo
