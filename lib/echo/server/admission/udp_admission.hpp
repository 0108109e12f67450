#pragma once

#include "echo/server/admission/loop_damper.hpp"
#include "echo/server/admission/port_filter.hpp"
#include "echo/server/admission/rate_limiter.hpp"

#include <boost/asio/ip/udp.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace echo {

struct udp_admission_settings {
  std::size_t max_datagram = 65507;
  port_filter blocked_source_ports;
  std::uint32_t rate_limit = 0; // datagrams per second per source address; 0 = off
  bool loop_damping = true;     // --udp-loop-damping
};

// Whether a received datagram is echoed, and if not, why.
enum class udp_verdict {
  echo,
  too_large,    // over --max-datagram, or truncated on arrival
  own_port,     // from this server's own port: another echo service, or a spoofed loop
  blocked_port, // from a port of --udp-blocked-ports
  loop,         // it repeats what we just sent that peer (loop_damper)
  rate_limited, // its source is over --udp-rate-limit
};

// What a log line says of a verdict: "larger than max-datagram", ...
const char* describe(udp_verdict verdict) noexcept;

// Who is answered over UDP, one datagram at a time, in this order: size,
// source port (our own, then the blocked ones), echo loop, rate limit. The
// order matters: a datagram dropped by an earlier rule never reaches a later
// one, so a blocked or looping source spends none of its rate limit. (The
// loop damper remembers every datagram that passes it, one the rate limiter
// then drops included: a client that retries one payload faster than its
// rate allows can be taken for a loop.) Owned by one UDP endpoint's
// coroutine; not thread-safe.
class udp_admission {
public:
  udp_admission(udp_admission_settings settings, std::uint16_t own_port);

  // `datagram` is what was received, `real_size` its size on the wire
  // (larger when it was truncated).
  udp_verdict check(std::span<const std::byte> datagram, std::size_t real_size,
                    const boost::asio::ip::udp::endpoint& sender,
                    loop_damper::clock::time_point now = loop_damper::clock::now());

private:
  udp_admission_settings settings_;
  std::uint16_t own_port_;
  loop_damper damper_;
  rate_limiter limiter_;
};

} // namespace echo
