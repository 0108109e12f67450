#include "echo/server/admission/udp_admission.hpp"

namespace echo {

const char* describe(udp_verdict verdict) noexcept {
  switch (verdict) {
  case udp_verdict::echo:
    return "echoed";
  case udp_verdict::too_large:
    return "larger than max-datagram";
  case udp_verdict::own_port:
    return "source port is this server's own port";
  case udp_verdict::blocked_port:
    return "source port blocked (udp-blocked-ports)";
  case udp_verdict::loop:
    return "it repeats what we just sent it (an echo loop)";
  case udp_verdict::rate_limited:
    return "source over udp-rate-limit";
  }
  return "unknown";
}

// A one-second burst: a source may send up to a second's worth at once.
// Without loop damping its table shrinks to one set, never consulted.
udp_admission::udp_admission(udp_admission_settings settings, std::uint16_t own_port)
    : settings_(std::move(settings)), own_port_(own_port), damper_(settings_.loop_damping ? 1024 : 1),
      limiter_(settings_.rate_limit, settings_.rate_limit) {}

udp_verdict udp_admission::check(std::span<const std::byte> datagram, std::size_t real_size,
                                 const boost::asio::ip::udp::endpoint& sender, loop_damper::clock::time_point now) {
  if (real_size > settings_.max_datagram || real_size > datagram.size()) return udp_verdict::too_large;
  if (sender.port() == own_port_) return udp_verdict::own_port;
  if (settings_.blocked_source_ports.blocks(sender.port())) return udp_verdict::blocked_port;
  if (settings_.loop_damping && !damper_.allow(sender, datagram.first(real_size), now)) return udp_verdict::loop;
  if (!limiter_.allow(sender.address(), now)) return udp_verdict::rate_limited;
  return udp_verdict::echo;
}

} // namespace echo
