#include "echo/server/metrics/metrics_http.hpp"

#include "echo/server/metrics/metrics_collector.hpp"

#include "echo/common/logging.hpp"
#include "echo/common/version.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>

namespace echo {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using clock = std::chrono::steady_clock;

using request = http::request<http::empty_body>;
using response = http::response<http::string_body>;

constexpr auto exposition_type = "text/plain; version=0.0.4; charset=utf-8";

response make_response(http::status status, unsigned http_version, std::string body,
                       const char* content_type = "text/plain; charset=utf-8") {
  response res{status, http_version};
  res.set(http::field::server, "echo-server/" + std::string(version()));
  res.set(http::field::content_type, content_type);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// The answer to one well-formed request; `metrics_text()` gives the body of
// a scrape.
template <class MetricsText>
response answer(const request& req, const std::atomic<bool>& ready, MetricsText&& metrics_text) {
  const auto target = std::string_view(req.target()).substr(0, req.target().find('?'));
  const bool known = target == "/metrics" || target == "/healthz" || target == "/readyz";
  if (!known) return make_response(http::status::not_found, req.version(), "not found: try /metrics\n");
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = make_response(http::status::method_not_allowed, req.version(), "only GET and HEAD\n");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (target == "/metrics") return make_response(http::status::ok, req.version(), metrics_text(), exposition_type);
  if (target == "/healthz") return make_response(http::status::ok, req.version(), "ok\n");
  if (ready.load(std::memory_order_relaxed)) return make_response(http::status::ok, req.version(), "ready\n");
  return make_response(http::status::service_unavailable, req.version(), "stopping\n");
}

// Writes `res` within metrics_http::write_timeout. Meanwhile the socket
// lingers 0: should the peer not take the answer in time, the stream's
// timeout closes the socket with a reset, and the kernel frees its queues
// at once instead of keeping them for an orphan in FIN-WAIT-1. Once the
// answer is written, a close is a plain FIN again.
asio::awaitable<error_code> write_answer(beast::tcp_stream& stream, response& res) {
  error_code ec;
  stream.socket().set_option(asio::socket_base::linger(true, 0), ec);
  stream.expires_after(metrics_http::write_timeout);
  auto [write_ec, written] = co_await http::async_write(stream, res, nothrow);
  if (!write_ec) stream.socket().set_option(asio::socket_base::linger(false, 0), ec);
  co_return write_ec;
}

} // namespace

metrics_http::metrics_http(asio::io_context& io, tcp::acceptor acceptor,
                           std::vector<const prometheus::Collectable*> collectables, const std::atomic<bool>& ready,
                           server_stats& stats, spdlog::logger& log)
    : strand_(asio::make_strand(io)), acceptor_(std::move(acceptor)), endpoint_(acceptor_.local_endpoint()),
      retry_timer_(strand_), collectables_(std::move(collectables)), ready_(ready), stats_(stats), log_(log) {}

void metrics_http::start() {
  asio::co_spawn(strand_, accept_loop(), [self = shared_from_this()](const std::exception_ptr& failure) {
    log_failure(self->log_, "metrics listener", failure);
  });
}

void metrics_http::close() {
  asio::post(strand_, [self = shared_from_this()] {
    self->closed_ = true;
    error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
    for (const auto& [socket, since] : self->connections_) socket->close(ignored);
  });
}

asio::awaitable<void> metrics_http::accept_loop() {
  while (!closed_) {
    // The connection's socket, and so its timeouts, live on the strand too.
    auto [ec, socket] = co_await acceptor_.async_accept(asio::any_io_executor(strand_), nothrow);
    if (closed_ || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE and the like: say so now and then, pause, go on.
      stats_.add("metrics_accept_errors"); // not the echo listeners': their own counter
      if (reject_warnings_.allow()) log_.warn("metrics: accept failed: {}; retrying", ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      co_await retry_timer_.async_wait(nothrow);
      continue;
    }
    // Full: the newcomer (a probe, most likely) gets the place of the
    // connection that has waited longest. Only when none has registered yet
    // (a burst of connects faster than they start) is the newcomer refused.
    if (open_connections_ >= max_connections && !evict_longest_waiting()) {
      stats_.add("metrics_connections_rejected");
      if (reject_warnings_.allow())
        log_.warn("metrics: connection closed at once: {} metrics connections open already", max_connections);
      continue; // `socket` closes as it goes out of scope
    }
    ++open_connections_; // counted here, not when serve() gets going, so a burst cannot overshoot
    asio::co_spawn(strand_, serve(std::move(socket)), [self = shared_from_this()](const std::exception_ptr& failure) {
      log_failure(self->log_, "metrics connection", failure);
    });
  }
}

bool metrics_http::evict_longest_waiting() {
  const auto longest = std::min_element(connections_.begin(), connections_.end(),
                                        [](const auto& a, const auto& b) { return a.second < b.second; });
  if (longest == connections_.end()) return false;
  // Its coroutine ends with operation_aborted; the place is free now.
  error_code ignored;
  longest->first->close(ignored);
  connections_.erase(longest);
  --open_connections_;
  stats_.add("metrics_connections_evicted");
  if (reject_warnings_.allow())
    log_.warn("metrics: {} metrics connections open already: closed the one waiting longest for a new one",
              max_connections);
  return true;
}

void metrics_http::waiting(tcp::socket* socket) {
  if (const auto it = connections_.find(socket); it != connections_.end()) it->second = ++waits_;
}

asio::awaitable<void> metrics_http::serve(tcp::socket socket) {
  const auto self = shared_from_this(); // outlives the server object if need be
  beast::tcp_stream stream(std::move(socket));
  auto* const key = &stream.socket();
  connections_.emplace(key, ++waits_);
  struct forget {
    metrics_http& http;
    tcp::socket* socket;
    ~forget() {
      if (http.connections_.erase(socket) != 0) --http.open_connections_; // not if evicted: counted then
    }
  } const registered{*this, key};
  if (closed_) co_return;

  const auto metrics_text = [this] {
    return *scrapes_.text(clock::now(), [this] {
      stats_.add("metrics_renders"); // before, so that a render counts itself
      return render_metrics(collectables_);
    });
  };
  // Room for a full header and a little more, so that a header over the
  // limit is reported as such rather than as a full buffer.
  beast::flat_buffer buffer(2 * max_header_bytes);
  asio::steady_timer spacing(strand_);
  auto next_read = clock::now();
  for (unsigned requests = 1;; ++requests) {
    // Requests come in no closer than request_spacing: a client asking back
    // to back waits (in the kernel's queue, which it then fills and stops).
    if (clock::now() < next_read) {
      spacing.expires_at(next_read);
      co_await spacing.async_wait(nothrow);
      if (!stream.socket().is_open()) break; // evicted or closed meanwhile
    }
    http::request_parser<http::empty_body> parser;
    parser.header_limit(max_header_bytes);
    stream.expires_after(request_timeout); // for the whole request, however slowly it trickles in
    auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, nothrow);
    next_read = clock::now() + request_spacing;
    waiting(key); // from here, on the peer taking the answer
    if (read_ec) {
      // A request that is wrong gets its answer; one that never came, or a
      // peer that left, gets nothing.
      std::optional<http::status> status;
      const bool malformed = read_ec.category() == http::make_error_code(http::error::bad_method).category() &&
                             read_ec != http::error::end_of_stream && read_ec != http::error::partial_message;
      if (read_ec == http::error::header_limit || read_ec == http::error::buffer_overflow)
        status = http::status::request_header_fields_too_large;
      else if (malformed)
        status = http::status::bad_request;
      if (!status) break;
      auto res = make_response(*status, 11, std::string(obsolete_reason(*status)) + "\n");
      res.keep_alive(false);
      co_await write_answer(stream, res);
      break;
    }
    stats_.add("metrics_requests");
    auto res = answer(parser.get(), ready_, metrics_text);
    res.keep_alive(parser.get().keep_alive() && requests < max_requests_per_connection);
    if (parser.get().method() == http::verb::head) {
      const auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    const auto write_ec = co_await write_answer(stream, res);
    if (write_ec == beast::error::timeout)
      log_.debug("metrics: answer not taken within {}s: reset", write_timeout.count());
    if (write_ec || !res.keep_alive()) break;
    waiting(key); // for the next request
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

} // namespace echo
