// The metrics HTTP server in-process on 127.0.0.1 (an OS-chosen port), its
// io_context on a thread of its own, and clients driven from the test's
// thread on another io_context. Every wait is bounded: the clients' by
// `io_limit`, the server's thread by `stop_limit`, so that a test fails
// rather than hangs.
#include "echo/server/metrics/metrics_http.hpp"

#include "echo/server/metrics/metrics_collector.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;
using echo::metrics_http;
using namespace std::chrono_literals;

using response = http::response<http::string_body>;

constexpr auto io_limit = 5s;
constexpr auto stop_limit = 5s; // well under metrics_http::request_timeout
static_assert(stop_limit < metrics_http::request_timeout);

// Runs `io` on this thread until `done()` or `limit` has passed.
template <class Done>
bool run_until(asio::io_context& io, Done done, std::chrono::steady_clock::duration limit = io_limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(10ms);
  }
  return done();
}

// One client connection, driven on `io` from the test's thread. Results of
// asynchronous operations land in shared state, so that an operation given
// up on can complete later harmlessly.
class client {
public:
  explicit client(asio::io_context& io) : io_(io), socket_(io) {}
  ~client() { abandon(); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  ::testing::AssertionResult connect(const tcp::endpoint& server) {
    auto result = std::make_shared<std::optional<error_code>>();
    socket_.async_connect(server, [result](error_code ec) { *result = ec; });
    if (!run_until(io_, [&] { return result->has_value(); })) return give_up("connect");
    if (**result) return ::testing::AssertionFailure() << "connect: " << (*result)->message();
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult send(const std::string& raw) {
    auto result = std::make_shared<std::optional<error_code>>();
    auto text = std::make_shared<std::string>(raw);
    asio::async_write(socket_, asio::buffer(*text), [result, text](error_code ec, std::size_t) { *result = ec; });
    if (!run_until(io_, [&] { return result->has_value(); })) return give_up("send");
    if (**result) return ::testing::AssertionFailure() << "send: " << (*result)->message();
    return ::testing::AssertionSuccess();
  }

  // The next response; `head` when it answers a HEAD (a header only).
  std::optional<response> receive(bool head = false) {
    struct state {
      std::optional<error_code> ec;
      http::response_parser<http::string_body> parser;
    };
    auto s = std::make_shared<state>();
    s->parser.skip(head);
    http::async_read(socket_, buffer_, s->parser, [s](error_code ec, std::size_t) { s->ec = ec; });
    if (!run_until(io_, [&] { return s->ec.has_value(); })) {
      ADD_FAILURE() << give_up("receive").message();
      return std::nullopt;
    }
    if (*s->ec) {
      last_error_ = *s->ec;
      return std::nullopt;
    }
    return s->parser.release();
  }

  std::optional<response> request(const std::string& method, const std::string& target) {
    if (!send(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) return std::nullopt;
    return receive(method == "HEAD");
  }

  // How the server ends the connection: reads until an error (eof, or a
  // reset) and says what came before it. `timed_out` when nothing happened.
  struct ending {
    error_code ec;
    std::string data; // what was read (after anything buffered)
  };
  ending wait_closed() {
    ending out;
    out.data = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    const auto deadline = std::chrono::steady_clock::now() + io_limit;
    for (;;) {
      struct state {
        std::optional<error_code> ec;
        std::array<char, 4096> chunk{};
        std::size_t n = 0;
      };
      auto s = std::make_shared<state>();
      socket_.async_read_some(asio::buffer(s->chunk), [s](error_code ec, std::size_t n) {
        s->ec = ec;
        s->n = n;
      });
      const auto left = deadline - std::chrono::steady_clock::now();
      if (!run_until(
              io_, [&] { return s->ec.has_value(); }, left)) {
        abandon();
        out.ec = asio::error::timed_out;
        return out;
      }
      out.data.append(s->chunk.data(), s->n);
      if (*s->ec) {
        out.ec = *s->ec;
        return out;
      }
    }
  }

  error_code last_error() const { return last_error_; }
  void close() {
    error_code ignored;
    socket_.close(ignored);
  }

private:
  // Cancels whatever is pending and lets it complete, so that nothing still
  // refers to this object afterwards.
  void abandon() {
    close();
    io_.restart();
    io_.poll();
  }

  ::testing::AssertionResult give_up(const char* what) {
    abandon();
    return ::testing::AssertionFailure() << what << ": nothing within " << io_limit.count() << " s";
  }

  asio::io_context& io_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  error_code last_error_;
};

// A collectable of our own, to show every collectable given is rendered.
class test_collectable : public prometheus::Collectable {
public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::ClientMetric sample;
    sample.gauge.value = 42;
    return {prometheus::MetricFamily{
        "test_answer", "A family of the test's own.", prometheus::MetricType::Gauge, {sample}}};
  }
};

class MetricsHttp : public ::testing::Test {
protected:
  void SetUp() override {
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    server_ = std::make_shared<metrics_http>(io_, std::move(acceptor),
                                             std::vector<const prometheus::Collectable*>{&collector_, &extra_}, ready_,
                                             stats_, log_);
    endpoint_ = server_->local_endpoint();
    server_->start();
    running_ = std::async(std::launch::async, [this] { io_.run(); });
  }

  void TearDown() override { EXPECT_TRUE(stop()) << "the metrics server's io_context did not stop"; }

  // close(), then waits (bounded) for run() to return. True if it did.
  bool stop() {
    if (!running_.valid()) return stopped_cleanly_;
    server_->close();
    stopped_cleanly_ = running_.wait_for(stop_limit) == std::future_status::ready;
    if (!stopped_cleanly_) io_.stop();
    running_.get();
    return stopped_cleanly_;
  }

  std::unique_ptr<client> connected() {
    auto c = std::make_unique<client>(client_io_);
    EXPECT_TRUE(c->connect(endpoint_));
    return c;
  }

  // What the logger wrote; only once the server's thread is done.
  std::string log_text() const {
    EXPECT_FALSE(running_.valid()) << "read the log after stop()";
    return log_stream_.str();
  }

  // Declared before the io_context, so that they outlive whatever of the
  // server its handlers still hold.
  std::ostringstream log_stream_;
  spdlog::logger log_{"metrics-http-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_stream_)};
  echo::server_stats stats_;
  echo::server_collector collector_{stats_};
  test_collectable extra_;
  std::atomic<bool> ready_{true};

  asio::io_context io_{1};
  std::shared_ptr<metrics_http> server_;
  tcp::endpoint endpoint_;
  std::future<void> running_;
  bool stopped_cleanly_ = false;

  asio::io_context client_io_{1};
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_F(MetricsHttp, GetMetricsRendersEveryCollectableGiven) {
  stats_.add("tcp_bytes_in", 5);
  stats_.add("dropped_loop", 3);
  auto c = connected();
  const auto res = c->request("GET", "/metrics");
  ASSERT_TRUE(res) << c->last_error().message();
  EXPECT_EQ(res->result(), http::status::ok);
  EXPECT_EQ(res->at(http::field::content_type), "text/plain; version=0.0.4; charset=utf-8");
  const auto& body = res->body();
  EXPECT_TRUE(contains(body, "\necho_tcp_received_bytes_total 5\n")) << body;
  EXPECT_TRUE(contains(body, "\necho_udp_dropped_datagrams_total{reason=\"loop\"} 3\n")) << body;
  EXPECT_TRUE(contains(body, "# HELP echo_tcp_received_bytes_total Bytes read from TCP clients.\n")) << body;
  EXPECT_TRUE(contains(body, "# TYPE echo_tcp_received_bytes_total counter\n")) << body;
  EXPECT_TRUE(contains(body, "\necho_build_info{version=")) << body;
  EXPECT_TRUE(contains(body, "\ntest_answer 42\n")) << body; // the second collectable
  EXPECT_FALSE(contains(body, "process_cpu_seconds_total")) << "not a collectable given";
  // A query string does not change the path.
  const auto with_query = c->request("GET", "/metrics?name[]=echo_build_info");
  ASSERT_TRUE(with_query);
  EXPECT_EQ(with_query->result(), http::status::ok);
}

TEST_F(MetricsHttp, HeadGivesTheLengthAndNoBody) {
  auto c = connected();
  const auto head = c->request("HEAD", "/metrics");
  ASSERT_TRUE(head) << c->last_error().message();
  EXPECT_EQ(head->result(), http::status::ok);
  EXPECT_EQ(head->at(http::field::content_type), "text/plain; version=0.0.4; charset=utf-8");
  ASSERT_EQ(head->count(http::field::content_length), 1u);
  const auto length = std::stoul(std::string(head->at(http::field::content_length)));
  EXPECT_GT(length, 0u);
  EXPECT_TRUE(head->body().empty());
  // Had a body followed the header, this would read it as the response.
  const auto get = c->request("GET", "/metrics");
  ASSERT_TRUE(get) << c->last_error().message();
  ASSERT_EQ(get->result(), http::status::ok);
  // Only echo_metrics_requests_total changed, from 1 to 2.
  EXPECT_EQ(length, get->body().size());
}

TEST_F(MetricsHttp, HealthzIsOk) {
  auto c = connected();
  const auto res = c->request("GET", "/healthz");
  ASSERT_TRUE(res) << c->last_error().message();
  EXPECT_EQ(res->result(), http::status::ok);
  EXPECT_EQ(res->body(), "ok\n");
}

TEST_F(MetricsHttp, ReadyzFollowsTheReadyFlag) {
  auto c = connected();
  auto res = c->request("GET", "/readyz");
  ASSERT_TRUE(res) << c->last_error().message();
  EXPECT_EQ(res->result(), http::status::ok);
  EXPECT_EQ(res->body(), "ready\n");

  ready_ = false;
  res = c->request("GET", "/readyz");
  ASSERT_TRUE(res) << c->last_error().message();
  EXPECT_EQ(res->result(), http::status::service_unavailable);
  // Still alive while it stops.
  res = c->request("GET", "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result(), http::status::ok);
}

TEST_F(MetricsHttp, AnUnknownPathIsNotFound) {
  auto c = connected();
  for (const auto* target : {"/", "/nope", "/metricsx", "/metrics/"}) {
    const auto res = c->request("GET", target);
    ASSERT_TRUE(res) << target << ": " << c->last_error().message();
    EXPECT_EQ(res->result(), http::status::not_found) << target;
  }
}

TEST_F(MetricsHttp, PostIsMethodNotAllowedWithAllow) {
  auto c = connected();
  ASSERT_TRUE(c->send("POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"));
  const auto res = c->receive();
  ASSERT_TRUE(res) << c->last_error().message();
  EXPECT_EQ(res->result(), http::status::method_not_allowed);
  EXPECT_EQ(res->at(http::field::allow), "GET, HEAD");
  // The connection goes on.
  const auto next = c->request("GET", "/healthz");
  ASSERT_TRUE(next) << c->last_error().message();
  EXPECT_EQ(next->result(), http::status::ok);
}

TEST_F(MetricsHttp, AHeaderOverTheLimitGets431AndTheConnectionCloses) {
  auto c = connected();
  const std::string big(metrics_http::max_header_bytes + 100, 'a');
  ASSERT_TRUE(c->send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + big + "\r\n\r\n"));
  const auto res = c->receive();
  ASSERT_TRUE(res) << c->last_error().message();
  EXPECT_EQ(res->result(), http::status::request_header_fields_too_large);
  EXPECT_FALSE(res->keep_alive());
  const auto end = c->wait_closed();
  EXPECT_EQ(end.ec, asio::error::eof) << end.ec.message();
  EXPECT_EQ(stats_.get("metrics_requests"), 0u);
}

TEST_F(MetricsHttp, AMalformedRequestGets400AndTheConnectionCloses) {
  auto c = connected();
  ASSERT_TRUE(c->send("this is not http\r\n\r\n"));
  const auto res = c->receive();
  ASSERT_TRUE(res) << c->last_error().message();
  EXPECT_EQ(res->result(), http::status::bad_request);
  EXPECT_FALSE(res->keep_alive());
  const auto end = c->wait_closed();
  EXPECT_EQ(end.ec, asio::error::eof) << end.ec.message();
  EXPECT_EQ(stats_.get("metrics_requests"), 0u);
}

TEST_F(MetricsHttp, KeepAliveServesRequestsOneAfterAnotherOnOneConnection) {
  auto c = connected();
  auto first = c->request("GET", "/healthz");
  ASSERT_TRUE(first) << c->last_error().message();
  EXPECT_EQ(first->result(), http::status::ok);
  EXPECT_TRUE(first->keep_alive());
  auto second = c->request("GET", "/metrics");
  ASSERT_TRUE(second) << c->last_error().message();
  EXPECT_EQ(second->result(), http::status::ok);

  // Two at once (pipelined) are answered in order.
  ASSERT_TRUE(c->send("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                      "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  auto third = c->receive();
  auto fourth = c->receive();
  ASSERT_TRUE(third && fourth) << c->last_error().message();
  EXPECT_EQ(third->body(), "ready\n");
  EXPECT_EQ(fourth->result(), http::status::not_found);

  // Connection: close is honoured.
  ASSERT_TRUE(c->send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
  auto last = c->receive();
  ASSERT_TRUE(last) << c->last_error().message();
  EXPECT_FALSE(last->keep_alive());
  EXPECT_EQ(c->wait_closed().ec, asio::error::eof);
}

TEST_F(MetricsHttp, MetricsRequestsCountsEveryAnsweredRequest) {
  auto c = connected();
  ASSERT_TRUE(c->request("GET", "/healthz"));
  ASSERT_TRUE(c->request("HEAD", "/metrics"));
  ASSERT_TRUE(c->request("GET", "/nope"));
  ASSERT_TRUE(c->send("POST /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(c->receive());
  EXPECT_EQ(stats_.get("metrics_requests"), 4u);

  // A malformed request is answered, but is no request.
  auto bad = connected();
  ASSERT_TRUE(bad->send("GET /metrics HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"));
  const auto rejected = bad->receive();
  ASSERT_TRUE(rejected) << bad->last_error().message();
  EXPECT_EQ(rejected->result(), http::status::bad_request);
  EXPECT_EQ(stats_.get("metrics_requests"), 4u);

  // A scrape counts itself.
  const auto scrape = c->request("GET", "/metrics");
  ASSERT_TRUE(scrape);
  EXPECT_TRUE(contains(scrape->body(), "\necho_metrics_requests_total 5\n")) << scrape->body();
  EXPECT_EQ(stats_.get("metrics_requests"), 5u);
}

TEST_F(MetricsHttp, WhenFullANewConnectionTakesThePlaceOfTheOneWaitingLongest) {
  std::vector<std::unique_ptr<client>> open;
  for (std::size_t i = 0; i < metrics_http::max_connections; ++i) {
    open.push_back(connected());
    ASSERT_FALSE(HasFailure()) << "connection " << i;
  }
  // Each asks once, in turn: the first has waited longest since.
  for (std::size_t i = 0; i < open.size(); ++i) {
    const auto res = open[i]->request("GET", "/healthz");
    ASSERT_TRUE(res) << "connection " << i << ": " << open[i]->last_error().message();
  }
  // A probe on a new connection is answered at once...
  const auto before = std::chrono::steady_clock::now();
  auto probe = connected();
  const auto res = probe->request("GET", "/healthz");
  ASSERT_TRUE(res) << probe->last_error().message();
  EXPECT_EQ(res->result(), http::status::ok);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
  // ...in the place of the first, closed (a FIN: it was waiting for a request).
  const auto end = open.front()->wait_closed();
  EXPECT_EQ(end.ec, asio::error::eof) << end.ec.message();
  EXPECT_EQ(end.data, "");
  EXPECT_EQ(stats_.get("metrics_connections_evicted"), 1u);
  EXPECT_EQ(stats_.get("metrics_connections_rejected"), 0u);

  // The others are served.
  for (const auto i : {std::size_t{1}, metrics_http::max_connections - 1}) {
    const auto again = open[i]->request("GET", "/healthz");
    ASSERT_TRUE(again) << "connection " << i << ": " << open[i]->last_error().message();
    EXPECT_EQ(again->result(), http::status::ok);
  }
  ASSERT_TRUE(stop());
  EXPECT_TRUE(contains(log_text(), "64 metrics connections open already")) << log_text();
}

TEST_F(MetricsHttp, RequestsOnOneConnectionAreReadRequestSpacingApart) {
  auto c = connected();
  ASSERT_TRUE(c->send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                      "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  const auto first = c->receive();
  ASSERT_TRUE(first) << c->last_error().message();
  const auto after_first = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->receive()) << c->last_error().message();
  const auto third = c->receive();
  ASSERT_TRUE(third) << c->last_error().message();
  EXPECT_EQ(third->result(), http::status::ok);
  // Two more requests read after the first: two spacings at least.
  EXPECT_GE(std::chrono::steady_clock::now() - after_first, 2 * metrics_http::request_spacing - 10ms);
}

TEST_F(MetricsHttp, CloseEndsEverythingAndRunReturns) {
  auto idle = connected();
  auto kept_alive = connected();
  auto half_sent = connected();
  const auto res = kept_alive->request("GET", "/healthz");
  ASSERT_TRUE(res) << kept_alive->last_error().message();
  EXPECT_TRUE(res->keep_alive());
  ASSERT_TRUE(half_sent->send("GET /metrics HTTP/1.1\r\nHost: 12"));
  // Most likely the server has read that much when it is closed (it then
  // ends with a FIN); if not, with a reset: either will do.
  std::this_thread::sleep_for(50ms);

  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(stop()) << "run() did not return within " << stop_limit.count() << " s of close()";
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);

  for (auto* c : {idle.get(), kept_alive.get(), half_sent.get()}) {
    const auto end = c->wait_closed();
    EXPECT_TRUE(end.ec == asio::error::eof || end.ec == asio::error::connection_reset) << end.ec.message();
    EXPECT_EQ(end.data, "");
  }
  // Nobody listens any more.
  client late(client_io_);
  EXPECT_FALSE(late.connect(endpoint_));
}

} // namespace
