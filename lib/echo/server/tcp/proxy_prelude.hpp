#pragma once

// The PROXY prelude of a TCP or TLS session: with --proxy-protocol, the
// header a balancer sends before the client's first byte (HAProxy's
// proxy-protocol.txt), read within a bound and parsed by the common codec.

#include "echo/common/asio.hpp"
#include "echo/common/proxy/proxy_protocol.hpp"
#include "echo/server/tcp/session_record.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>

namespace echo {

// How long a balancer has to send the whole header.
inline constexpr std::chrono::seconds proxy_header_timeout{5};

// What a PROXY protocol header left: the header, and the client's bytes
// that came in the same reads (in the buffer given).
struct proxy_start {
  proxy_header header;
  std::span<const std::byte> rest;
};

// Reads the header that must start the connection, within
// proxy_header_timeout, into `buffer` (a pool buffer: no allocation), and
// makes the client it names the record's client. Nothing when the
// connection is to be closed (counted and logged).
asio::awaitable<std::optional<proxy_start>> read_proxy_header(boost::asio::ip::tcp::socket& socket,
                                                              std::span<std::byte> buffer, session_record& record);

} // namespace echo
