#include "echo/server/admission/tcp_admission.hpp"

namespace echo {

const char* describe(tcp_rejection rejection) noexcept {
  switch (rejection) {
  case tcp_rejection::untrusted:
    return "not in --proxy-trusted";
  case tcp_rejection::max_connections:
    return "max-connections sessions open";
  case tcp_rejection::max_connections_per_source:
    return "max-connections-per-source sessions open from it";
  }
  return "unknown";
}

tcp_admission::tcp_admission(tcp_admission_settings settings, std::function<std::uint64_t()> open_sessions)
    : settings_(std::move(settings)), open_sessions_(std::move(open_sessions)) {}

std::optional<tcp_rejection> tcp_admission::admit(const boost::asio::ip::address& peer,
                                                  std::optional<source_key>& source) {
  source.reset();
  if (!settings_.trusted.empty() && !settings_.trusted.contains(peer)) return tcp_rejection::untrusted;
  if (settings_.max_connections != 0 && open_sessions_() >= settings_.max_connections)
    return tcp_rejection::max_connections;
  if (settings_.max_connections_per_source != 0) {
    const auto key = connections_per_source::key_of(peer);
    if (!per_source_.try_add(key, settings_.max_connections_per_source))
      return tcp_rejection::max_connections_per_source;
    source = key;
  }
  return std::nullopt;
}

} // namespace echo
