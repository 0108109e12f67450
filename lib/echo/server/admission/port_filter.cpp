#include "echo/server/admission/port_filter.hpp"

#include <charconv>
#include <stdexcept>

namespace echo {
namespace {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

std::uint16_t parse_port(std::string_view text, std::string_view element) {
  unsigned value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value > 65535)
    throw std::invalid_argument("'" + std::string(element) + "' is not a port or range of ports (0 to 65535)");
  return static_cast<std::uint16_t>(value);
}

} // namespace

port_filter port_filter::parse(std::string_view list) {
  port_filter filter;
  if (trim(list).empty()) return filter; // an empty list blocks none
  for (bool more = true; more;) {
    const auto comma = list.find(',');
    const auto element = trim(list.substr(0, comma));
    more = comma != std::string_view::npos;
    list = more ? list.substr(comma + 1) : std::string_view{};
    if (element.empty()) throw std::invalid_argument("an empty element in the list (two commas, or one at an end)");

    const auto dash = element.find('-');
    const auto low = parse_port(trim(element.substr(0, dash)), element);
    const auto high = dash == std::string_view::npos ? low : parse_port(trim(element.substr(dash + 1)), element);
    if (high < low) throw std::invalid_argument("'" + std::string(element) + "' is a range that ends before it starts");
    for (unsigned port = low; port <= high; ++port) filter.ports_.set(port);
  }
  return filter;
}

std::string port_filter::to_string() const {
  std::string out;
  unsigned port = 0;
  while (port < 65536) {
    if (!ports_.test(port)) {
      ++port;
      continue;
    }
    const unsigned first = port;
    while (port < 65536 && ports_.test(port)) ++port;
    if (!out.empty()) out += ',';
    out += std::to_string(first);
    if (port - 1 != first) out += '-' + std::to_string(port - 1);
  }
  return out;
}

} // namespace echo
