#include "echo/server/admission/connections_per_source.hpp"

#include "echo/server/admission/address_key.hpp"

#include <cstring>
#include <functional>
#include <string_view>

namespace echo {

connections_per_source::key_type connections_per_source::key_of(const boost::asio::ip::address& address) noexcept {
  auto bytes = address_key(address);
  const bool v4 = address.is_v4() || address.to_v6().is_v4_mapped();
  if (!v4) std::memset(bytes.data() + 8, 0, 8); // an IPv6 client is its /64
  return bytes;
}

std::size_t connections_per_source::key_hash::operator()(const key_type& key) const noexcept {
  // Keys are addresses of connected clients (a handshake was completed), not
  // spoofable datagram sources: the standard hash is enough.
  return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
}

bool connections_per_source::try_add(const key_type& key, std::size_t limit) {
  auto& open = open_[key];
  if (open >= limit) {
    if (open == 0) open_.erase(key);
    return false;
  }
  ++open;
  return true;
}

void connections_per_source::remove(const key_type& key) noexcept {
  const auto found = open_.find(key);
  if (found == open_.end()) return;
  if (--found->second == 0) open_.erase(found);
}

std::size_t connections_per_source::count(const key_type& key) const noexcept {
  const auto found = open_.find(key);
  return found == open_.end() ? 0 : found->second;
}

} // namespace echo
