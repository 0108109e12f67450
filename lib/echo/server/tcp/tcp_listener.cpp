#include "echo/server/tcp/tcp_listener.hpp"

#include "echo/common/asio.hpp"
#include "echo/common/net/endpoint_format.hpp"
#include "echo/common/logging.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

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

} // namespace

tcp_listener::tcp_listener(asio::io_context& io, tcp::acceptor acceptor, listener_settings settings,
                           session_context context, std::function<void()> on_session_end)
    : io_(io), acceptor_(std::move(acceptor)), settings_(settings), context_(context),
      on_session_end_(std::move(on_session_end)) {}

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
  // Accepted sockets inherit these from the listener (Linux), which saves a
  // system call per session: TCP_NODELAY (an echo goes out at once; should
  // the listener refuse it, each session sets it) and TCP_INQ (each read of
  // a plain session says whether anything is left, see read_when_ready.hpp;
  // without it, on a kernel before 4.18, one more read per message).
  const int on = 1;
  context_.no_delay_inherited = ::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0;
  if (!context_.tls && ::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_INQ, &on, sizeof on) != 0)
    context_.log.debug("TCP_INQ not available ({}): one more read per message", std::strerror(errno));

  while (acceptor_.is_open()) {
    // The peer's address comes with the accept: no getpeername() per session.
    tcp::endpoint peer;
    auto [ec, socket] = co_await acceptor_.async_accept(peer, nothrow);
    for (int taken = 1;; ++taken) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec == asio::error::would_block) break; // the queue is empty
      if (ec) {
        add(context_.stats.accept_errors);
        if (is_resource_exhaustion(ec)) {
          if (exhausted_warning.allow())
            context_.log.warn("accept failed: {}; pausing accepts for {} ms (accept_errors={})", ec.message(),
                              accept_pause.count(), context_.stats.accept_errors.load(std::memory_order_relaxed));
          pause.expires_after(accept_pause);
          co_await pause.async_wait(nothrow);
        } else {
          context_.log.debug("accept failed: {}", ec.message());
        }
        break;
      }
      std::optional<connections_per_source::key_type> source;
      if (admit(socket, peer, source)) spawn_session(std::move(socket), peer, source);
      if (taken == accepts_per_wakeup) break;
      socket = acceptor_.accept(peer, ec);
    }
  }
}

bool tcp_listener::admit(tcp::socket& socket, const tcp::endpoint& peer,
                         std::optional<connections_per_source::key_type>& source) {
  const auto reject = [&](server_stats::counter& counter, const char* why) {
    add(counter);
    if (rejected_warning_.allow())
      context_.log.warn("connection from {} rejected: {}; rejected so far: {} (max-connections), {} (per source)",
                        peer_text(socket), why, context_.stats.sessions_rejected.load(std::memory_order_relaxed),
                        context_.stats.sessions_rejected_per_source.load(std::memory_order_relaxed));
    error_code ignored;
    socket.close(ignored);
    return false;
  };
  if (!settings_.trusted.empty() && !settings_.trusted.contains(peer.address()))
    return reject(context_.stats.sessions_rejected_untrusted, "not in --proxy-trusted");
  if (settings_.max_connections != 0 && context_.stats.sessions_open() >= settings_.max_connections)
    return reject(context_.stats.sessions_rejected, "max-connections sessions open");
  if (settings_.max_connections_per_source != 0) {
    const auto key = connections_per_source::key_of(peer.address());
    if (!per_source_.try_add(key, settings_.max_connections_per_source))
      return reject(context_.stats.sessions_rejected_per_source, "max-connections-per-source sessions open from it");
    source = key;
  }
  return true;
}

void tcp_listener::spawn_session(tcp::socket socket, const tcp::endpoint& peer,
                                 std::optional<connections_per_source::key_type> source) {
  add(context_.stats.sessions_opened);
  // On one thread the io_context is already serial; on several, a strand
  // per session keeps the idle sweep's close request off a running session.
  const asio::any_io_executor executor = settings_.session_strands ? asio::any_io_executor(asio::make_strand(io_))
                                                                   : asio::any_io_executor(io_.get_executor());
  auto session =
      context_.tls ? tls_session(std::move(socket), peer, context_) : tcp_session(std::move(socket), peer, context_);
  asio::co_spawn(executor, std::move(session), [this, source](const std::exception_ptr& failure) {
    if (failure) {
      add(context_.stats.sessions_failed);
      log_failure(context_.log, "session", failure);
    }
    // The per-source table belongs to the listener's executor.
    if (source) asio::post(executor_, [this, key = *source] { per_source_.remove(key); });
    add(context_.stats.sessions_closed);
    on_session_end_();
  });
}

} // namespace echo
