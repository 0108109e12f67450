#include "echo/server/admission/cidr_list.hpp"

#include "echo/common/net/unmapped_address.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace echo {
namespace {

using boost::asio::ip::address;

// The first `prefix` bits of two addresses of one family are equal.
template <class Bytes>
bool same_prefix(const Bytes& a, const Bytes& b, unsigned prefix) {
  const unsigned whole = prefix / 8;
  if (!std::equal(a.begin(), a.begin() + whole, b.begin())) return false;
  const unsigned rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

} // namespace

cidr_list cidr_list::parse(const std::string& text) {
  cidr_list list;
  std::string_view rest(text);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto element = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (element.empty()) throw std::invalid_argument("an empty element in the list (two commas, or one at an end)");
    const auto slash = element.find('/');
    boost::system::error_code ec;
    const auto network = boost::asio::ip::make_address(std::string(element.substr(0, slash)), ec);
    if (ec) throw std::invalid_argument("'" + std::string(element) + "' is not an address or ADDRESS/BITS");
    const unsigned bits = network.is_v4() ? 32 : 128;
    unsigned prefix = bits;
    if (slash != std::string_view::npos) {
      const auto digits = element.substr(slash + 1);
      const auto [end, perr] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (digits.empty() || perr != std::errc() || end != digits.data() + digits.size() || prefix > bits)
        throw std::invalid_argument("'" + std::string(element) + "' has a prefix length that is not 0 to " +
                                    std::to_string(bits));
    }
    list.ranges_.push_back({unmapped(network), network.is_v6() && network.to_v6().is_v4_mapped()
                                                   ? (prefix >= 96 ? prefix - 96 : 0)
                                                   : prefix});
  }
  if (list.ranges_.empty() && !text.empty()) throw std::invalid_argument("an empty list");
  return list;
}

bool cidr_list::contains(const address& raw) const {
  const auto a = unmapped(raw);
  return std::any_of(ranges_.begin(), ranges_.end(), [&a](const range& r) {
    if (a.is_v4() != r.network.is_v4()) return false;
    return a.is_v4() ? same_prefix(a.to_v4().to_bytes(), r.network.to_v4().to_bytes(), r.prefix)
                     : same_prefix(a.to_v6().to_bytes(), r.network.to_v6().to_bytes(), r.prefix);
  });
}

std::string cidr_list::to_string() const {
  std::ostringstream out;
  for (std::size_t i = 0; i < ranges_.size(); ++i)
    out << (i ? "," : "") << ranges_[i].network.to_string() << '/' << ranges_[i].prefix;
  return out.str();
}

} // namespace echo
