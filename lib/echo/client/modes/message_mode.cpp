#include "echo/client/connection/connect.hpp"
#include "echo/client/modes/console_io.hpp"
#include "echo/client/modes/modes.hpp"
#include "echo/client/modes/udp_exchanger.hpp"
#include "echo/common/asio.hpp"
#include "echo/common/coro/deadline.hpp"
#include "echo/common/duration_text.hpp"

#include <boost/asio/write.hpp>

#include <array>

namespace echo {
namespace {

using clock = std::chrono::steady_clock;

// After the whole message has come back, how long -m waits for the server
// to close (or send more, as a server that changes the data may). A deadline,
// not a pause: a server that drips bytes cannot stretch it.
constexpr auto reply_grace = std::chrono::milliseconds(200);

// A reply may differ from the message (the server changes the data), but
// not without bound: past this many bytes more than were sent, it is no echo.
constexpr std::size_t reply_slack = 64 * 1024;

// -m over TCP (or TLS): send, half-close (unless --no-shutdown), collect the reply
// until the server closes, or the grace after a complete reply runs out.
asio::awaitable<std::string> tcp_message(const client_config& config, spdlog::logger& log) {
  auto stream = co_await connect_stream(config, log);
  const auto& text = *config.message;
  co_await asio::async_write(stream, asio::buffer(text), asio::use_awaitable);
  error_code ec;
  // Over TLS the half-close is our close_notify, which is sent, not just
  // flagged: bounded like everything else.
  if (config.half_close) {
    const bool sent = co_await finished_within(
        config.timeout, [&]() -> asio::awaitable<void> { ec = co_await stream.finish_sending(); }());
    if (!sent)
      throw client_error(failure_text(config, "could not finish sending within " + seconds_text(config.timeout)));
  }

  const auto fail = [&](const std::string& why) { return client_error(failure_text(config, why)); };
  std::string reply;
  std::array<char, 65536> chunk{};
  auto deadline = clock::now() + config.timeout; // for the whole message to come back
  bool complete = false;
  for (;;) {
    if (!complete && reply.size() >= text.size()) {
      complete = true;
      deadline = std::min(deadline, clock::now() + reply_grace);
    }
    const auto left = deadline - clock::now();
    std::size_t n = 0;
    const bool done = left > clock::duration::zero() && co_await finished_within(left, [&]() -> asio::awaitable<void> {
                        auto [read_ec, got] = co_await stream.async_read_some(asio::buffer(chunk), nothrow);
                        ec = read_ec;
                        n = got;
                      }());
    if (!done) {
      if (complete) break; // all back; the server just keeps the line open (or drips)
      throw fail("no complete reply within " + seconds_text(config.timeout) + " (got " + std::to_string(reply.size()) +
                 " of " + std::to_string(text.size()) + " bytes)");
    }
    if (is_end_of_stream(ec)) break;
    if (ec) throw fail(ec.message());
    if (reply.size() + n > text.size() + reply_slack)
      throw fail("the server sent more than " + std::to_string(text.size() + reply_slack) + " bytes for a " +
                 std::to_string(text.size()) + "-byte message; stopped reading");
    reply.append(chunk.data(), n);
  }
  if (reply.size() < text.size())
    throw fail("connection closed after " + std::to_string(reply.size()) + " of " + std::to_string(text.size()) +
               " bytes");
  co_await finished_within(config.timeout, stream.finish());
  co_return reply;
}

} // namespace

asio::awaitable<int> probe_mode(const client_config& config, spdlog::logger& log) {
  if (config.protocol == transport::tcp) {
    // The connection (and over TLS its handshake) is the answer.
    auto stream = co_await connect_stream(config, log);
    co_await finished_within(config.timeout, stream.finish());
  } else {
    // UDP has no connection: the echo of an empty datagram is the answer.
    udp_exchanger udp(co_await resolve_udp(config), config);
    const auto reply = co_await udp.exchange("");
    if (!reply.empty())
      throw client_error(failure_text(config, "the reply to an empty datagram has " + std::to_string(reply.size()) +
                                                  " bytes: not an echo"));
  }
  co_return 0;
}

asio::awaitable<int> message_mode(const client_config& config, spdlog::logger& log) {
  std::string reply;
  if (config.protocol == transport::tcp) {
    reply = co_await tcp_message(config, log);
  } else {
    udp_exchanger udp(co_await resolve_udp(config), config);
    reply = co_await udp.exchange(*config.message);
  }
  write_stdout(reply);
  write_stdout("\n");
  if (config.check && reply != *config.message)
    throw client_error("reply differs from the message: sent " + std::to_string(config.message->size()) +
                       " bytes, got " + std::to_string(reply.size()) + " bytes");
  co_return 0;
}

} // namespace echo
