#include "echo/common/proxy/proxy_protocol.hpp"

#include "echo/common/log_safe.hpp"
#include "echo/common/net/unmapped_address.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <string_view>
#include <tuple>
#include <utility>

namespace echo {
namespace {

using asio_address = boost::asio::ip::address;
using boost::asio::ip::tcp;

constexpr std::string_view v1_prefix = "PROXY ";
constexpr std::array<std::uint8_t, 12> v2_signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// The v2 TLV types this codec reads and writes.
constexpr std::uint8_t tlv_authority = 0x02;
constexpr std::uint8_t tlv_unique_id = 0x05;

proxy_parse invalid(std::string why) { return {proxy_parse::status::invalid, {}, std::move(why)}; }
proxy_parse incomplete() { return {}; }

// The words of a v1 line, split on single spaces (the format allows no other).
struct words {
  std::array<std::string_view, 6> word{};
  std::size_t count = 0;
};

words split(std::string_view line) {
  words w;
  while (w.count < w.word.size()) {
    const auto space = line.find(' ');
    w.word[w.count++] = line.substr(0, space);
    if (space == std::string_view::npos) return w;
    line.remove_prefix(space + 1);
  }
  w.count = w.word.size() + 1; // too many
  return w;
}

std::optional<std::uint16_t> port_of(std::string_view text) {
  unsigned value = 0;
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::optional<asio_address> address_of(std::string_view text, bool v6) {
  boost::system::error_code ec;
  const std::string copy(text); // short: fits the small-string buffer
  if (v6) {
    const auto a = boost::asio::ip::make_address_v6(copy, ec);
    if (ec || a.is_v4_mapped()) return std::nullopt;
    return asio_address(a);
  }
  const auto a = boost::asio::ip::make_address_v4(copy, ec);
  if (ec) return std::nullopt;
  return asio_address(a);
}

proxy_parse parse_v1(std::span<const std::uint8_t> data) {
  const std::string_view text(reinterpret_cast<const char*>(data.data()), std::min(data.size(), proxy_v1_max_bytes));
  // One rule, whatever the split: the line ends at its first LF, which must
  // follow a CR, and holds no other CR or LF. Every byte decides as it comes,
  // so a prefix is refused exactly when every longer input is.
  const auto lf = text.find('\n');
  const auto cr = text.find('\r');
  if (lf == std::string_view::npos) {
    if (cr != std::string_view::npos && cr + 1 < text.size()) return invalid("a v1 header with a CR inside its line");
    if (text.size() >= proxy_v1_max_bytes) return invalid("a v1 header without CRLF in 107 bytes");
    return incomplete();
  }
  if (cr == std::string_view::npos || cr + 1 > lf) return invalid("a v1 header ending in LF, not CRLF");
  if (cr + 1 < lf) return invalid("a v1 header with a CR inside its line");
  const auto end = cr;
  const auto w = split(text.substr(0, end));
  proxy_parse done{proxy_parse::status::complete, {}, {}};
  done.header.version = 1;
  done.header.length = end + 2;
  if (w.count >= 2 && w.word[1] == "UNKNOWN") return done; // the rest of the line is to be ignored
  if (w.count != 6) return invalid("a v1 header needs PROXY TCP4|TCP6 SRC DST SPORT DPORT");
  const bool v6 = w.word[1] == "TCP6";
  if (!v6 && w.word[1] != "TCP4") return invalid("a v1 header with protocol '" + log_safe(w.word[1]) + "'");
  const auto source = address_of(w.word[2], v6);
  const auto destination = address_of(w.word[3], v6);
  const auto source_port = port_of(w.word[4]);
  const auto destination_port = port_of(w.word[5]);
  if (!source || !destination) return invalid("a v1 header with an address that is not " + std::string(w.word[1]));
  if (!source_port || !destination_port) return invalid("a v1 header with a port that is not 0 to 65535");
  done.header.source = tcp::endpoint(*source, *source_port);
  done.header.destination = tcp::endpoint(*destination, *destination_port);
  return done;
}

std::uint16_t big_endian16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }

// The source and destination of a v2 TCP header: two addresses, then two ports.
template <class Address>
std::pair<tcp::endpoint, tcp::endpoint> read_addresses(std::span<const std::uint8_t> body) {
  typename Address::bytes_type source{};
  typename Address::bytes_type destination{};
  const auto n = source.size();
  std::memcpy(source.data(), body.data(), n);
  std::memcpy(destination.data(), body.data() + n, n);
  return {tcp::endpoint(Address(source), big_endian16(body.data() + 2 * n)),
          tcp::endpoint(Address(destination), big_endian16(body.data() + 2 * n + 2))};
}

// TLVs after the addresses: each checked to lie within the header; two are
// kept for the log, the others skipped.
bool read_tlvs(std::span<const std::uint8_t> tlvs, proxy_header& header) {
  while (!tlvs.empty()) {
    if (tlvs.size() < 3) return false;
    const auto type = tlvs[0];
    const auto length = big_endian16(tlvs.data() + 1);
    if (tlvs.size() < 3u + length) return false;
    const auto value = tlvs.subspan(3, length);
    if (type == tlv_authority) header.authority.assign(reinterpret_cast<const char*>(value.data()), value.size());
    if (type == tlv_unique_id && value.size() <= 128) {
      static constexpr char hex[] = "0123456789abcdef";
      header.unique_id.clear();
      for (const auto byte : value) {
        header.unique_id += hex[byte >> 4];
        header.unique_id += hex[byte & 0xF];
      }
    }
    tlvs = tlvs.subspan(3u + length);
  }
  return true;
}

proxy_parse parse_v2(std::span<const std::uint8_t> data) {
  if (data.size() < 16) return incomplete();
  const auto version_command = data[12];
  if ((version_command >> 4) != 2) return invalid("a v2 header with version " + std::to_string(version_command >> 4));
  const auto command = version_command & 0x0F;
  if (command > 1) return invalid("a v2 header with command " + std::to_string(command));
  const std::size_t total = 16u + big_endian16(data.data() + 14);
  if (total > proxy_v2_max_bytes)
    return invalid("a v2 header of " + std::to_string(total) + " bytes (at most " + std::to_string(proxy_v2_max_bytes) +
                   ")");
  if (data.size() < total) return incomplete();

  proxy_parse done{proxy_parse::status::complete, {}, {}};
  done.header.version = 2;
  done.header.length = total;
  done.header.local = command == 0;
  const auto family = data[13] >> 4;
  const auto transport = data[13] & 0x0F;
  const auto body = data.subspan(16, total - 16);
  std::size_t addresses = 0;
  const bool tcp_client = transport == 1 && !done.header.local;
  if (tcp_client && (family == 1 || family == 2)) { // TCP over IPv4 or IPv6
    addresses = family == 1 ? 12 : 36;
    if (body.size() < addresses) return invalid("a v2 TCP header too short for its addresses");
    std::tie(done.header.source, done.header.destination) = family == 1
                                                                ? read_addresses<boost::asio::ip::address_v4>(body)
                                                                : read_addresses<boost::asio::ip::address_v6>(body);
  } else if (family == 1 || family == 2) {
    addresses = family == 1 ? 12 : 36; // LOCAL, or UDP: addresses present but not a TCP client of ours
    if (body.size() < addresses && !done.header.local) return invalid("a v2 header too short for its addresses");
    addresses = std::min(addresses, body.size());
  } else if (family == 3) {
    addresses = std::min<std::size_t>(216, body.size()); // AF_UNIX: two paths, nothing we can log as an address
  }
  if (!read_tlvs(body.subspan(addresses), done.header)) return invalid("a v2 header with a TLV past its end");
  return done;
}

void put16(std::string& out, std::size_t value) {
  out += static_cast<char>((value >> 8) & 0xFF);
  out += static_cast<char>(value & 0xFF);
}

void put_address(std::string& out, const asio_address& address) {
  if (address.is_v4()) {
    for (const auto b : address.to_v4().to_bytes()) out += static_cast<char>(b);
  } else {
    for (const auto b : address.to_v6().to_bytes()) out += static_cast<char>(b);
  }
}

void put_tlv(std::string& out, std::uint8_t type, std::string_view value) {
  out += static_cast<char>(type);
  put16(out, value.size());
  out += value;
}

// The unique id is kept as hex (see read_tlvs); written back as its bytes.
std::string bytes_of_hex(std::string_view hex) {
  const auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
  return out;
}

// The two addresses in one family: IPv4 where both are IPv4 (mapped or
// not), else IPv6 (an IPv4 one mapped).
std::pair<asio_address, asio_address> one_family(const asio_address& a, const asio_address& b) {
  const auto x = unmapped(a);
  const auto y = unmapped(b);
  if (x.is_v4() == y.is_v4()) return {x, y};
  const auto v6 = [](const asio_address& v) {
    return v.is_v6() ? v : asio_address(boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, v.to_v4()));
  };
  return {v6(x), v6(y)};
}

std::string write_v1(const proxy_header& header) {
  if (!header.source || !header.destination) return "PROXY UNKNOWN\r\n";
  const auto [from, to] = one_family(header.source->address(), header.destination->address());
  return std::string("PROXY ") + (from.is_v4() ? "TCP4 " : "TCP6 ") + from.to_string() + " " + to.to_string() + " " +
         std::to_string(header.source->port()) + " " + std::to_string(header.destination->port()) + "\r\n";
}

std::string write_v2(const proxy_header& header) {
  std::string body;
  std::uint8_t family_transport = 0x00; // AF_UNSPEC: no addresses
  if (header.source && header.destination) {
    const auto [from, to] = one_family(header.source->address(), header.destination->address());
    family_transport = from.is_v4() ? 0x11 : 0x21; // TCP over IPv4, or over IPv6
    put_address(body, from);
    put_address(body, to);
    put16(body, header.source->port());
    put16(body, header.destination->port());
  }
  if (!header.authority.empty()) put_tlv(body, tlv_authority, header.authority);
  if (!header.unique_id.empty()) put_tlv(body, tlv_unique_id, bytes_of_hex(header.unique_id));
  std::string out(reinterpret_cast<const char*>(v2_signature.data()), v2_signature.size());
  out += static_cast<char>(header.local ? 0x20 : 0x21); // version 2, command LOCAL or PROXY
  out += static_cast<char>(family_transport);
  put16(out, body.size());
  return out + body;
}

} // namespace

std::string write_proxy_header(const proxy_header& header) {
  return header.version == 1 ? write_v1(header) : write_v2(header);
}

proxy_parse parse_proxy_header(std::span<const std::uint8_t> data) {
  if (data.empty()) return incomplete();
  if (data[0] == 'P') {
    const auto n = std::min(data.size(), v1_prefix.size());
    if (std::memcmp(data.data(), v1_prefix.data(), n) != 0) return invalid("not a PROXY protocol header");
    return n < v1_prefix.size() ? incomplete() : parse_v1(data);
  }
  if (data[0] == v2_signature[0]) {
    const auto n = std::min(data.size(), v2_signature.size());
    if (std::memcmp(data.data(), v2_signature.data(), n) != 0) return invalid("not a PROXY protocol header");
    return n < v2_signature.size() ? incomplete() : parse_v2(data);
  }
  return invalid("not a PROXY protocol header");
}

} // namespace echo
