#pragma once

#include "echo/server/admission/cidr_list.hpp"
#include "echo/server/admission/connections_per_source.hpp"

#include <boost/asio/ip/address.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

namespace echo {

struct tcp_admission_settings {
  std::size_t max_connections = 0;            // 0 = unlimited
  std::size_t max_connections_per_source = 0; // 0 = unlimited
  cidr_list trusted;                          // --proxy-trusted: empty = anyone may connect
};

// Why a TCP connection was not admitted.
enum class tcp_rejection {
  untrusted,                  // not in --proxy-trusted
  max_connections,            // --max-connections sessions open
  max_connections_per_source, // --max-connections-per-source sessions open from its source
};

// What a log line says of a rejection: "not in --proxy-trusted", ...
const char* describe(tcp_rejection rejection) noexcept;

// Who may open a TCP session, for every echo listener of the server at once
// (plain and TLS): the limits are the server's, not a listener's, so one
// client gets --max-connections-per-source sessions in all, whichever ports
// it uses. The checks run in this order: trusted sources, the server-wide
// limit, the per-source limit (which takes a place only for a connection
// that passed the others).
//
// Not thread-safe: every listener accepts on one executor (the server's
// control executor), and admit() and release() run there.
class tcp_admission {
public:
  using source_key = connections_per_source::key_type;

  // `open_sessions` says how many sessions are open now (the server's count).
  tcp_admission(tcp_admission_settings settings, std::function<std::uint64_t()> open_sessions);

  // Nothing when the connection may be served; then `source` holds the
  // place it took in the per-source table (if that limit is on), to be given
  // back with release() when the session ends.
  std::optional<tcp_rejection> admit(const boost::asio::ip::address& peer, std::optional<source_key>& source);
  void release(const source_key& source) noexcept { per_source_.remove(source); }

  std::size_t open_from(const boost::asio::ip::address& peer) const noexcept {
    return per_source_.count(connections_per_source::key_of(peer));
  }

private:
  tcp_admission_settings settings_;
  std::function<std::uint64_t()> open_sessions_;
  connections_per_source per_source_;
};

} // namespace echo
