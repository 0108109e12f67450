#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>

namespace echo {

// A set of UDP source ports to drop, parsed from "0-1023,2049". Checking a
// port is one bit test, so it sits on the datagram path at no cost.
class port_filter {
public:
  port_filter() = default;

  // Throws std::invalid_argument naming the bad element. An empty or
  // all-blank list blocks nothing.
  static port_filter parse(std::string_view list);

  bool blocks(std::uint16_t port) const noexcept { return ports_.test(port); }
  bool empty() const noexcept { return ports_.none(); }
  std::size_t count() const noexcept { return ports_.count(); }

  // Canonical form: ascending, ranges merged ("0-1023,2049"); "" when empty.
  std::string to_string() const;

private:
  std::bitset<65536> ports_;
};

} // namespace echo
