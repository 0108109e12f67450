#include "echo/server/echo_server.hpp"

#include "echo/common/asio.hpp"
#include "echo/common/logging.hpp"
#include "echo/common/net/endpoint_format.hpp"
#include "echo/common/usage_error.hpp"
#include "echo/server/listen_sockets.hpp"
#include "echo/server/metrics/metrics_collector.hpp"
#include "echo/server/metrics/metrics_http.hpp"
#include "echo/server/sockets/listener_options.hpp"
#include "echo/server/tcp/session_registry.hpp"
#include "echo/server/tcp/tcp_listener.hpp"
#include "echo/server/tcp/tls_context.hpp"
#include "echo/server/udp/udp_endpoint.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <malloc.h>

#include <algorithm>

namespace echo {
namespace {

// How often idle sessions are looked for: often enough that a session is
// closed within a quarter of its timeout late, never more than once a second.
std::chrono::milliseconds idle_sweep_period(std::chrono::milliseconds idle_timeout) {
  return std::clamp(idle_timeout / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
}

// glibc keeps freed heap memory for reuse and returns to the system only
// what sits at the top of the heap, so memory that thousands of sessions
// held stays resident after they close, spread between longer-lived blocks.
// Once this many sessions have closed since the most open at once, the
// server asks glibc to return every free page (malloc_trim: one pass over
// the free lists, a few milliseconds for hundreds of MiB) when no session
// has ended for `trim_quiet`: one trim after a mass close, not several
// during it. Under steady churn it trims after `trim_most_waits` anyway.
constexpr std::uint64_t trim_after_closes = 1000;
constexpr std::chrono::seconds trim_quiet{1};
constexpr int trim_most_waits = 10;

} // namespace

echo_server::echo_server(asio::io_context& io, server_config config, std::shared_ptr<spdlog::logger> log)
    : io_(io), config_(std::move(config)), log_(std::move(log)),
      control_(config_.threads > 1 ? asio::any_io_executor(asio::make_strand(io))
                                   : asio::any_io_executor(io.get_executor())),
      registry_(std::make_shared<session_registry>()),
      admission_(
          tcp_admission_settings{config_.max_connections, config_.max_connections_per_source, config_.proxy_trusted},
          [this] { return stats_.sessions_open(); }),
      idle_sweep_timer_(control_), stats_timer_(control_), shutdown_timer_(control_), trim_timer_(control_) {}

echo_server::~echo_server() = default;

void echo_server::start(const std::vector<inherited_socket>& inherited) {
  log_->info("configuration: {}", describe(config_));
  if (!inherited.empty())
    log_->info("socket activation: serving the {} socket(s) systemd passed; --tcp, --udp, --bind, --port, "
               "--backlog and --reuse-port do not apply",
               inherited.size());
  auto sockets =
      inherited.empty() ? open_listen_sockets(io_, config_) : adopt_inherited_sockets(io_, config_, inherited);
  // Every socket is bound before anything is said to listen: a metrics port
  // in use fails the start as a whole.
  std::optional<asio::ip::tcp::acceptor> metrics_acceptor;
  if (config_.metrics) metrics_acceptor.emplace(open_metrics_acceptor(io_, *config_.metrics));

  // TLS: the certificate and key are loaded before anything serves, so a
  // bad file stops the start (a configuration error, exit 2).
  if (!sockets.tls.empty()) {
    if (config_.tls_cert.empty())
      throw usage_error("a TLS listener (a socket named tls) needs --tls-cert FILE and --tls-key FILE");
    tls_ = std::make_shared<tls_contexts>(tls_files{config_.tls_cert, config_.tls_key, config_.tls_client_ca});
    log_->info("TLS certificate {}: {}{}", config_.tls_cert, describe_certificate(*tls_->current()),
               config_.tls_client_ca.empty() ? "" : "; client certificates required (" + config_.tls_client_ca + ")");
  } else if (!config_.tls_cert.empty()) {
    log_->warn("--tls-cert is set but nothing serves TLS (no --tls-port, no socket named tls)");
  }

  const auto origin = inherited.empty() ? "backlog " + std::to_string(config_.backlog) : std::string("from systemd");
  for (auto& acceptor : sockets.tcp) start_listener(std::move(acceptor), "tcp", origin, nullptr);
  for (auto& acceptor : sockets.tls) start_listener(std::move(acceptor), "tls", origin, tls_);
  for (auto& socket : sockets.udp) {
    const auto endpoint = socket.local_endpoint();
    if (!udp_endpoint_) udp_endpoint_ = endpoint;
    auto& udp = udp_endpoints_.emplace_back(
        std::make_unique<class udp_endpoint>(std::move(socket),
                                             udp_admission_settings{config_.max_datagram, config_.udp_blocked_ports,
                                                                    config_.udp_rate_limit, config_.udp_loop_damping},
                                             stats_, *log_));
    log_->info("listening udp {}{}", endpoint, inherited.empty() ? "" : " (from systemd)");
    asio::co_spawn(control_, udp->run(),
                   [this](const std::exception_ptr& failure) { log_failure(*log_, "udp endpoint", failure); });
  }
  if (metrics_acceptor) start_metrics(std::move(*metrics_acceptor));
  ready_ = true;
  asio::post(control_, [this] {
    schedule_idle_sweep();
    schedule_stats();
  });
}

void echo_server::start_listener(asio::ip::tcp::acceptor acceptor, const char* kind, const std::string& origin,
                                 std::shared_ptr<tls_contexts> tls) {
  const auto endpoint = acceptor.local_endpoint();
  auto& first = tls ? tls_endpoint_ : tcp_endpoint_;
  if (!first) first = endpoint;
  // The sessions' settings, made once, before the first accept.
  const auto inherited = set_inherited_session_options(acceptor, tls == nullptr);
  if (!tls && !inherited.inq) log_->debug("TCP_INQ not available on {}: one more read per message", endpoint);
  session_context context{stats_, *log_, registry_, config_.proxy_protocol, &proxy_warnings_};
  context.no_delay_inherited = inherited.no_delay;
  if (tls) {
    context.tls = std::move(tls);
    context.tls_warnings = &tls_warnings_;
    // A handshake never takes longer than an idle session may last.
    if (config_.idle_timeout.count() != 0)
      context.tls_phase_limit = std::min(context.tls_phase_limit, config_.idle_timeout);
  }
  auto& listener = listeners_.emplace_back(std::make_unique<tcp_listener>(
      io_, std::move(acceptor), admission_, config_.threads > 1, std::move(context), [this] { on_session_end(); }));
  log_->info("listening {} {} ({})", kind, endpoint, origin);
  asio::co_spawn(control_, listener->run(), [this, kind](const std::exception_ptr& failure) {
    log_failure(*log_, std::string(kind) + " listener", failure);
  });
}

void echo_server::reload_tls() {
  asio::post(control_, [this] {
    if (!tls_) {
      log_->info("SIGHUP received: nothing to reload (TLS is off); still serving");
      return;
    }
    if (const auto failure = tls_->reload()) {
      log_->error("TLS reload failed: {}; still serving the certificate loaded before ({})", *failure,
                  describe_certificate(*tls_->current()));
      return;
    }
    log_->info("TLS certificate reloaded from {}: {}; sessions already open keep the one they started with",
               config_.tls_cert, describe_certificate(*tls_->current()));
  });
}

void echo_server::start_metrics(asio::ip::tcp::acceptor acceptor) {
  server_metrics_ = std::make_unique<server_collector>(stats_);
  process_metrics_ = std::make_unique<process_collector>();
  metrics_ = std::make_shared<metrics_http>(
      io_, std::move(acceptor),
      std::vector<const prometheus::Collectable*>{server_metrics_.get(), process_metrics_.get()}, ready_, stats_,
      *log_);
  metrics_endpoint_ = metrics_->local_endpoint();
  log_->info("listening metrics http://{}/metrics (also /healthz, /readyz)", *metrics_endpoint_);
  metrics_->start();
}

void echo_server::schedule_idle_sweep() {
  if (config_.idle_timeout.count() == 0 || listeners_.empty() || finished_) return;
  idle_sweep_timer_.expires_after(idle_sweep_period(config_.idle_timeout));
  idle_sweep_timer_.async_wait([this](const error_code& ec) {
    if (ec || finished_) return;
    registry_->close_idle(session_registry::clock::now() - config_.idle_timeout);
    schedule_idle_sweep();
  });
}

// On the control executor after each session's end. The most sessions open
// at once is seen here too: the first end after it sees one fewer.
void echo_server::return_freed_memory() {
  const auto open = stats_.sessions_open();
  if (open >= sessions_peak_) {
    sessions_peak_ = open;
    return;
  }
  if (trim_pending_ || sessions_peak_ - open < trim_after_closes || finished_) return;
  trim_pending_ = true;
  trim_when_quiet(stats_.get("sessions_closed"), 1);
}

void echo_server::trim_when_quiet(std::uint64_t closed_before, int waits) {
  trim_timer_.expires_after(trim_quiet);
  trim_timer_.async_wait([this, closed_before, waits](const error_code& ec) {
    if (ec || finished_) return; // cancelled: the server is finishing
    const auto closed = stats_.get("sessions_closed");
    if (closed != closed_before && waits < trim_most_waits) {
      trim_when_quiet(closed, waits + 1);
      return;
    }
    trim_pending_ = false;
    ::malloc_trim(0);
    sessions_peak_ = stats_.sessions_open();
  });
}

void echo_server::schedule_stats() {
  if (config_.stats_interval.count() == 0 || stopping_) return;
  stats_timer_.expires_after(config_.stats_interval);
  stats_timer_.async_wait([this](const error_code& ec) {
    if (ec || stopping_) return;
    log_->info("stats: {}", describe(stats_));
    schedule_stats();
  });
}

void echo_server::stop() {
  ready_ = false; // at once, not when the control executor gets to it: /readyz must say so now
  asio::post(control_, [this] { begin_shutdown(); });
}

void echo_server::begin_shutdown() {
  if (stopping_) return;
  stopping_ = true;
  const auto open = stats_.sessions_open();
  log_->info("stopping: no new connections; {} session(s) open, waiting up to {} ms", open,
             config_.shutdown_timeout.count());
  for (auto& listener : listeners_) listener->close();
  for (auto& udp : udp_endpoints_) udp->close();
  stats_timer_.cancel();
  if (open == 0) {
    finish();
    return;
  }
  shutdown_timer_.expires_after(config_.shutdown_timeout);
  shutdown_timer_.async_wait([this](const error_code& ec) {
    if (ec || finished_) return;
    log_->info("shutdown timeout: closing {} session(s) still open", stats_.sessions_open());
    registry_->close_all();
  });
}

void echo_server::on_session_end() {
  asio::post(control_, [this] {
    return_freed_memory();
    if (stopping_ && stats_.sessions_open() == 0) finish();
  });
}

void echo_server::finish() {
  if (finished_) return;
  finished_ = true;
  idle_sweep_timer_.cancel();
  shutdown_timer_.cancel();
  trim_timer_.cancel();
  log_->info("stopped: {}", describe(stats_));
  if (metrics_) metrics_->close(); // it kept answering (/readyz 503) while sessions drained
  for (const auto& handler : on_finished_) handler();
}

} // namespace echo
