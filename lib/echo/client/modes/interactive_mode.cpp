#include "echo/client/connection/connect.hpp"
#include "echo/client/modes/console_io.hpp"
#include "echo/client/modes/modes.hpp"
#include "echo/client/modes/udp_lines.hpp"
#include "echo/common/coro/deadline.hpp"
#include "echo/common/duration_text.hpp"
#include "echo/common/net/endpoint_format.hpp"

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <iostream>

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

asio::awaitable<int> interactive_tcp(const client_config& config, spdlog::logger& log, stdin_reader& input) {
  auto stream = co_await connect_stream(config, log);
  error_code ec;
  std::cerr << "connected to " << stream.socket().remote_endpoint(ec) << (config.tls ? " (tls)" : " (tcp)")
            << "; q or quit leaves\n";
  std::string received;
  while (const auto line = co_await prompt_line(input)) {
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
