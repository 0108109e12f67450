#include "echo/server/tcp/session_record.hpp"

#include "echo/common/log_safe.hpp"
#include "echo/common/net/endpoint_format.hpp"
#include "echo/server/reactor/socket_internals.hpp"

#include <boost/asio/ssl/error.hpp>

namespace echo {

bool is_peer_gone(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == asio::ssl::error::stream_truncated;
}

const char* describe_end(close_reason reason, const error_code& end) {
  if (reason == close_reason::idle) return "idle timeout";
  if (reason == close_reason::shutdown) return "server stopping";
  if (end == asio::error::eof) return "closed by peer";
  if (end == asio::ssl::error::stream_truncated) return "closed by peer without close_notify";
  if (is_peer_gone(end)) return "reset by peer";
  return "error";
}

void session_record::opened(const proxy_header* header) const {
  if (header == nullptr) {
    context.log.debug("session opened: peer {}", peer);
  } else if (context.log.should_log(spdlog::level::debug)) {
    context.log.debug("session opened: peer {} via {} (PROXY v{}{}{}{})", client, peer, header->version,
                      header->local ? " LOCAL" : "",
                      header->authority.empty() ? "" : " authority '" + log_safe(header->authority) + "'",
                      header->unique_id.empty() ? "" : " unique-id " + log_safe(header->unique_id));
  }
}

void session_record::count_end(close_reason reason, const error_code& end) const {
  if (reason == close_reason::idle) context.stats.add("sessions_idle_closed");
  if (reason == close_reason::none && end && !is_peer_gone(end)) {
    context.stats.add("sessions_failed");
    context.log.warn("session with {} failed: {}", client, end.message());
  }
}

void session_record::closed(const char* how) const {
  const auto lasted = clock::now() - started;
  context.stats.session_durations.record(lasted);
  context.log.debug("session closed: peer {} {} bytes_in={} bytes_out={} duration_ms={:.1f}", client, how, in, out,
                    std::chrono::duration<double, std::milli>(lasted).count());
}

void prepare_socket(boost::asio::ip::tcp::socket& socket, const session_context& context) {
  if (!context.no_delay_inherited) {
    error_code ignored; // a failure, from a peer already gone, shows at the first read
    socket.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  }
  mark_sole_owner(socket);
}

} // namespace echo
