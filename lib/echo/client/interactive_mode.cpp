#include "echo/client/connect.hpp"
#include "echo/client/console_io.hpp"
#include "echo/client/deadline.hpp"
#include "echo/client/modes.hpp"
#include "echo/client/udp_exchanger.hpp"
#include "echo/common/duration_text.hpp"
#include "echo/common/endpoint_format.hpp"

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
asio::awaitable<std::string> tcp_line(tcp::socket& socket, std::string& received, const std::string& line,
                                      const client_config& config) {
  const std::string request = line + '\n';
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  error_code ec;
  std::size_t n = 0;
  const bool answered = co_await finished_within(config.timeout, [&]() -> asio::awaitable<void> {
    // Bounded: a server that never sends a newline cannot fill our memory.
    auto [read_ec, got] = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(received, request.size() + reply_slack), '\n', nothrow);
    ec = read_ec;
    n = got;
  }());
  if (!answered) throw client_error("tcp " + where(config) + ": no reply within " + seconds_text(config.timeout));
  if (ec == asio::error::eof) throw client_error("tcp " + where(config) + ": the server closed the connection");
  if (ec == asio::error::not_found)
    throw client_error("tcp " + where(config) + ": the reply has no end of line within " +
                       std::to_string(request.size() + reply_slack) + " bytes");
  if (ec) throw client_error("tcp " + where(config) + ": " + ec.message());
  std::string reply = received.substr(0, n - 1);
  received.erase(0, n);
  co_return reply;
}

} // namespace

asio::awaitable<int> interactive_mode(const client_config& config, spdlog::logger& log) {
  const auto executor = co_await asio::this_coro::executor;
  stdin_reader input(executor);
  std::optional<tcp::socket> socket;
  std::optional<udp_exchanger> udp;
  if (config.protocol == transport::tcp) {
    socket.emplace(co_await connect_tcp(config, log));
    error_code ec;
    std::cerr << "connected to " << socket->remote_endpoint(ec) << " (tcp); q or quit leaves\n";
  } else {
    udp.emplace(co_await resolve_udp(config), config);
    std::cerr << "sending datagrams to " << where(config) << " (udp); q or quit leaves\n";
  }

  std::string received;
  std::size_t lost = 0;
  for (;;) {
    std::cerr << "> " << std::flush; // stdout carries only what the server sent back
    const auto line = co_await input.read_line();
    if (!line || *line == "q" || *line == "quit") break;
    // (Not `udp ? co_await a : co_await b`: GCC 12 miscompiles co_await in a conditional expression.)
    std::string reply;
    if (udp) {
      // A lost datagram is UDP's right: say so and go on.
      try {
        reply = co_await udp->exchange(*line);
      } catch (const client_error& e) {
        ++lost;
        std::cerr << "echo-client: " << e.what() << " (lost; go on, or q to leave)\n";
        continue;
      }
    } else
      reply = co_await tcp_line(*socket, received, *line, config);
    write_stdout(reply);
    write_stdout("\n");
  }
  co_return lost == 0 ? 0 : 1;
}

} // namespace echo
