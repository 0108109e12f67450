#include "echo/server/tcp/tcp_listener.hpp"

#include "echo/common/asio.hpp"
#include "echo/common/logging.hpp"
#include "echo/common/net/endpoint_format.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>

namespace echo {
namespace {

using asio::ip::tcp;

// After running out of descriptors or memory, wait this long before the
// next accept: the connection stays in the backlog until then.
constexpr auto accept_pause = std::chrono::milliseconds(100);

// Connections taken per wake-up: after the awaited accept, the rest of the
// queue is accepted directly, as an epoll loop would, up to this many, so
// the sessions on this thread still get their turn during a storm.
constexpr int accepts_per_wakeup = 16;

bool is_resource_exhaustion(const error_code& ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
         ec == boost::system::errc::too_many_files_open_in_system;
}

// The peer's address, or why there is none (a peer that reset before we
// looked has no address any more; never print it as 0.0.0.0:0).
std::string peer_text(const tcp::socket& socket) {
  error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) return "a peer already gone (" + ec.message() + ")";
  return fmt::format("{}", peer);
}

// The counter a refused connection goes to.
counter_id counter_of(tcp_rejection rejection) {
  switch (rejection) {
  case tcp_rejection::untrusted:
    return "sessions_rejected_untrusted";
  case tcp_rejection::max_connections_per_source:
    return "sessions_rejected_per_source";
  case tcp_rejection::max_connections:
    break;
  }
  return "sessions_rejected";
}

} // namespace

tcp_listener::tcp_listener(asio::io_context& io, tcp::acceptor acceptor, tcp_admission& admission, bool session_strands,
                           session_context context, std::function<void()> on_session_end)
    : io_(io), admission_(admission), acceptor_(std::move(acceptor)), session_strands_(session_strands),
      context_(std::move(context)), on_session_end_(std::move(on_session_end)) {}

tcp::endpoint tcp_listener::local_endpoint() const { return acceptor_.local_endpoint(); }

void tcp_listener::close() {
  error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> tcp_listener::run() {
  executor_ = co_await asio::this_coro::executor;
  warning_throttle exhausted_warning;
  asio::steady_timer pause(executor_);
  error_code ignored;
  acceptor_.non_blocking(true, ignored); // the direct accepts below must never block

  while (acceptor_.is_open()) {
    // The peer's address comes with the accept: no getpeername() per session.
    tcp::endpoint peer;
    auto [ec, socket] = co_await acceptor_.async_accept(peer, nothrow);
    for (int taken = 1;; ++taken) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec == asio::error::would_block) break; // the queue is empty
      if (ec) {
        context_.stats.add("accept_errors");
        if (is_resource_exhaustion(ec)) {
          if (exhausted_warning.allow())
            context_.log.warn("accept failed: {}; pausing accepts for {} ms (accept_errors={})", ec.message(),
                              accept_pause.count(), context_.stats.get("accept_errors"));
          pause.expires_after(accept_pause);
          co_await pause.async_wait(nothrow);
        } else {
          context_.log.debug("accept failed: {}", ec.message());
        }
        break;
      }
      std::optional<tcp_admission::source_key> source;
      if (admit(socket, peer, source)) spawn_session(std::move(socket), peer, source);
      if (taken == accepts_per_wakeup) break;
      socket = acceptor_.accept(peer, ec);
    }
  }
}

bool tcp_listener::admit(tcp::socket& socket, const tcp::endpoint& peer,
                         std::optional<tcp_admission::source_key>& source) {
  const auto rejection = admission_.admit(peer.address(), source);
  if (!rejection) return true;
  context_.stats.add(counter_of(*rejection));
  if (rejected_warning_.allow())
    context_.log.warn("connection from {} rejected: {}; rejected so far: {}", peer_text(socket), describe(*rejection),
                      describe_reasons(context_.stats, "echo_tcp_connections_rejected_total"));
  error_code ignored;
  socket.close(ignored);
  return false;
}

void tcp_listener::spawn_session(tcp::socket socket, const tcp::endpoint& peer,
                                 std::optional<tcp_admission::source_key> source) {
  context_.stats.add("sessions_opened");
  // On one thread the io_context is already serial; on several, a strand
  // per session keeps the idle sweep's close request off a running session.
  const asio::any_io_executor executor =
      session_strands_ ? asio::any_io_executor(asio::make_strand(io_)) : asio::any_io_executor(io_.get_executor());
  auto session =
      context_.tls ? tls_session(std::move(socket), peer, context_) : tcp_session(std::move(socket), peer, context_);
  asio::co_spawn(executor, std::move(session), [this, source](const std::exception_ptr& failure) {
    if (failure) {
      context_.stats.add("sessions_failed");
      log_failure(context_.log, "session", failure);
    }
    // The admission's table belongs to the listener's executor.
    if (source) asio::post(executor_, [this, key = *source] { admission_.release(key); });
    context_.stats.add("sessions_closed");
    on_session_end_();
  });
}

} // namespace echo
