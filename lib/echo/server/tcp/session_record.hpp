#pragma once

// What plain and TLS sessions share: a session's record from accept to close
// (who it is with, what it moved, how it ended, its log lines), the socket
// settings every session makes, and how an end is told apart.

#include "echo/common/asio.hpp"
#include "echo/common/proxy/proxy_protocol.hpp"
#include "echo/server/tcp/session_registry.hpp"
#include "echo/server/tcp/tcp_session.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>

namespace echo {

// The peer closed or went away: no failure of ours, nothing to count.
bool is_peer_gone(const error_code& ec);

// How a session ended, for its last log line.
const char* describe_end(close_reason reason, const error_code& end);

// One session's bookkeeping from accept to close: who it is with (the peer,
// or the client a PROXY header names), what it moved, and its log lines.
struct session_record {
  using clock = std::chrono::steady_clock;

  const session_context& context;
  boost::asio::ip::tcp::endpoint peer{};
  boost::asio::ip::tcp::endpoint client{};
  std::uint64_t in = 0;
  std::uint64_t out = 0;
  clock::time_point started = clock::now();

  // Per message: a relaxed atomic add each, nothing else.
  void received(std::size_t n) {
    in += n;
    context.stats.add("tcp_bytes_in", n);
  }
  void sent(std::size_t n) {
    out += n;
    context.stats.add("tcp_bytes_out", n);
  }
  // The debug line that opens the session; `header` when a PROXY header came first.
  void opened(const proxy_header* header) const;
  // What an end counts: an idle close, or a failure that was neither the
  // peer closing nor the peer going away.
  void count_end(close_reason reason, const error_code& end) const;
  // The session's duration into the histogram, and its last debug line.
  void closed(const char* how) const;
};

// A session's own socket settings, made once as it starts. TCP_NODELAY, so
// that echoes go out at once, not when Nagle's algorithm would let them,
// unless the socket has it from its listener. And Asio is told that no other
// descriptor shares this socket (it came from accept()), so that closing it
// takes no EPOLL_CTL_DEL.
void prepare_socket(boost::asio::ip::tcp::socket& socket, const session_context& context);

} // namespace echo
