#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace echo {

// The PROXY protocol codec, one for both programs: echo-server reads the
// header with --proxy-protocol, echo-client writes it with --proxy-header.
//
// The PROXY protocol header a balancer puts before a connection's data
// (HAProxy's proxy-protocol.txt), version 1 (text) or 2 (binary), told
// apart by the first bytes.
struct proxy_header {
  int version = 0;                                      // 1 or 2
  bool local = false;                                   // v2 LOCAL: the balancer's own connection (health check)
  std::optional<boost::asio::ip::tcp::endpoint> source; // the client, when the header names one
  std::optional<boost::asio::ip::tcp::endpoint> destination;
  std::size_t length = 0; // bytes the header takes; what follows is the client's data
  std::string authority;  // v2 PP2_TYPE_AUTHORITY (the SNI the balancer saw), if any
  std::string unique_id;  // v2 PP2_TYPE_UNIQUE_ID, as hex, if any
};

struct proxy_parse {
  enum class status { incomplete, complete, invalid };
  status result = status::incomplete;
  proxy_header header; // when complete
  std::string error;   // when invalid: what is wrong
};

// The longest headers accepted: v1's own limit, and for v2 the 16 fixed
// bytes plus room for addresses and TLVs far beyond what balancers send.
inline constexpr std::size_t proxy_v1_max_bytes = 107;
inline constexpr std::size_t proxy_v2_max_bytes = 16 + 2048;
inline constexpr std::size_t proxy_header_max_bytes = proxy_v2_max_bytes;

// The bytes of `header`, as a balancer sends them ahead of a connection's
// data: version 1 (text; "PROXY UNKNOWN" without a source) or 2 (binary,
// with the authority and unique id as TLVs when set; LOCAL when `local`).
// IPv4-mapped addresses are written as IPv4, so both ends are of one family.
// parse_proxy_header(write_proxy_header(h)) gives `h` back, with `length`
// set to the size written.
std::string write_proxy_header(const proxy_header& header);

// Parses the start of a connection. `incomplete` means every byte so far
// fits a header and more are needed; it never asks for more than
// proxy_header_max_bytes in all. Allocates nothing unless the header holds
// an authority or a unique id.
proxy_parse parse_proxy_header(std::span<const std::uint8_t> data);

} // namespace echo
