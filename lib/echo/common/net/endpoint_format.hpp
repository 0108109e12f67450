#pragma once

// Lets spdlog/fmt print Asio endpoints: "127.0.0.1:9001", "[::1]:9001".
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <fmt/ostream.h>

template <>
struct fmt::formatter<boost::asio::ip::tcp::endpoint> : fmt::ostream_formatter {};
template <>
struct fmt::formatter<boost::asio::ip::udp::endpoint> : fmt::ostream_formatter {};
template <>
struct fmt::formatter<boost::asio::ip::address> : fmt::ostream_formatter {};
