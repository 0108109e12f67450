#include "echo/client/connection/connect.hpp"
#include "echo/client/modes/console_io.hpp"
#include "echo/client/modes/modes.hpp"
#include "echo/client/modes/udp_lines.hpp"
#include "echo/common/coro/deadline.hpp"
#include "echo/common/duration_text.hpp"
#include "echo/common/net/endpoint_format.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <iostream>
#include <optional>

namespace echo {
namespace {

using asio::ip::tcp;

// How much longer than the line sent a reply line may be.
constexpr std::size_t reply_slack = 64 * 1024;

// Sends one line over TCP and reads back up to the echoed '\n'. `received`
// keeps what came after it for the next line.
asio::awaitable<std::string> tcp_line(client_stream& stream, std::string& received, const std::string& line,
                                      const client_config& config) {
  const std::string request = line + '\n';
  const std::string prefix = std::string(config.tls ? "tls " : "tcp ") + where(config) + ": ";
  co_await asio::async_write(stream, asio::buffer(request), asio::use_awaitable);
  error_code ec;
  std::size_t n = 0;
  const bool answered = co_await finished_within(config.timeout, [&]() -> asio::awaitable<void> {
    // Bounded: a server that never sends a newline cannot fill our memory.
    auto [read_ec, got] = co_await asio::async_read_until(
        stream, asio::dynamic_buffer(received, request.size() + reply_slack), '\n', nothrow);
    ec = read_ec;
    n = got;
  }());
  if (!answered) throw client_error(prefix + "no reply within " + seconds_text(config.timeout));
  if (is_end_of_stream(ec)) throw client_error(prefix + "the server closed the connection");
  if (ec == asio::error::not_found)
    throw client_error(prefix + "the reply has no end of line within " + std::to_string(request.size() + reply_slack) +
                       " bytes");
  if (ec) throw client_error(prefix + ec.message());
  std::string reply = received.substr(0, n - 1);
  received.erase(0, n);
  co_return reply;
}

// What came in while the user was typing: whatever the connection has now,
// read without waiting for more (over TLS, records such as session tickets
// may carry no data). Appends it to `received`; false when the server has
// closed the connection (or it failed: `ec` says which).
bool take_unasked(client_stream& stream, std::string& received, std::size_t bound, error_code& ec) {
  stream.socket().non_blocking(true, ec);
  std::array<char, 4096> chunk{};
  std::size_t n = 0;
  while (!ec && received.size() < bound) {
    n = stream.tls() ? stream.tls()->read_some(asio::buffer(chunk), ec)
                     : stream.socket().read_some(asio::buffer(chunk), ec);
    received.append(chunk.data(), n);
  }
  error_code restore;
  stream.socket().non_blocking(false, restore);
  if (ec == asio::error::would_block || (!ec && received.size() >= bound)) {
    ec = {};
    return true;
  }
  return false;
}

// Waits for the next line from the user, watching the connection meanwhile:
// a server that closes (its idle timeout, a restart) is noticed at once, not
// when the next line is sent. nullopt when the user leaves.
asio::awaitable<std::optional<std::string>> next_line(client_stream& stream, std::string& received, stdin_reader& input,
                                                      const client_config& config) {
  using namespace asio::experimental::awaitable_operators;
  const std::string prefix = std::string(config.tls ? "tls " : "tcp ") + where(config) + ": ";
  show_prompt();
  for (;;) {
    auto outcome = co_await (user_line(input) ||
                             stream.socket().async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable)));
    if (outcome.index() == 0) co_return std::get<0>(std::move(outcome));
    error_code ec = std::get<0>(std::get<1>(outcome));
    if (!ec && take_unasked(stream, received, reply_slack, ec)) {
      if (received.size() < reply_slack) continue;
      throw client_error(prefix + "the server sent " + std::to_string(received.size()) + " bytes nobody asked for");
    }
    std::cerr << '\n';
    if (!ec || is_end_of_stream(ec)) throw client_error(prefix + "the server closed the connection");
    throw client_error(prefix + ec.message());
  }
}

asio::awaitable<int> interactive_tcp(const client_config& config, spdlog::logger& log, stdin_reader& input) {
  auto stream = co_await connect_stream(config, log);
  error_code ec;
  std::cerr << "connected to " << stream.socket().remote_endpoint(ec) << (config.tls ? " (tls)" : " (tcp)")
            << "; q or quit leaves\n";
  std::string received;
  while (const auto line = co_await next_line(stream, received, input, config)) {
    write_stdout(co_await tcp_line(stream, received, *line, config));
    write_stdout("\n");
  }
  // Leaving: over TLS with close_notify (bounded), not a bare close.
  co_await finished_within(config.timeout, stream.finish());
  co_return 0;
}

} // namespace

asio::awaitable<int> interactive_mode(const client_config& config, spdlog::logger& log) {
  stdin_reader input(co_await asio::this_coro::executor);
  if (config.protocol == transport::udp) co_return co_await udp_lines(config, input, line_source::terminal);
  co_return co_await interactive_tcp(config, log, input);
}

} // namespace echo
