#include "echo/client/connect.hpp"
#include "echo/client/console_io.hpp"
#include "echo/client/modes.hpp"
#include "echo/client/udp_exchanger.hpp"
#include "echo/common/asio.hpp"
#include "echo/common/duration_text.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <iostream>
#include <vector>

namespace echo {
namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;

// Pipe over TCP: stdin to the server and the server's bytes to stdout, at
// the same time, so a large input cannot deadlock against its own echo.
struct pipe_state {
  tcp::socket& socket;
  bool input_done = false;
  clock::time_point last_progress = clock::now();
};

asio::awaitable<void> copy_stdin_to_server(pipe_state& state, stdin_reader& input) {
  std::vector<char> chunk(65536);
  for (;;) {
    const auto n = co_await input.read_some(asio::buffer(chunk));
    if (n == 0) break;
    co_await asio::async_write(state.socket, asio::buffer(chunk.data(), n), asio::use_awaitable);
  }
  error_code ec;
  state.socket.shutdown(tcp::socket::shutdown_send, ec);
  state.input_done = true;
  state.last_progress = clock::now();
  // Done sending; the race is now between the echo draining and the watchdog.
  asio::steady_timer forever(co_await asio::this_coro::executor, clock::time_point::max());
  co_await forever.async_wait(nothrow);
}

asio::awaitable<void> copy_server_to_stdout(pipe_state& state) {
  std::vector<char> chunk(65536);
  for (;;) {
    auto [ec, n] = co_await state.socket.async_read_some(asio::buffer(chunk), nothrow);
    if (ec == asio::error::eof) co_return;
    if (ec) throw client_error("connection lost: " + ec.message());
    write_stdout(std::string_view(chunk.data(), n));
    state.last_progress = clock::now();
  }
}

// Once input has ended, the echo must keep coming: no byte for a whole
// timeout means the server is not answering.
asio::awaitable<void> drain_watchdog(pipe_state& state, std::chrono::milliseconds timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::max(timeout / 10, std::chrono::milliseconds(1)));
    co_await timer.async_wait(asio::use_awaitable);
    if (state.input_done && clock::now() - state.last_progress >= timeout) co_return;
  }
}

asio::awaitable<int> udp_lines(const client_config& config, stdin_reader& input) {
  udp_exchanger udp(co_await resolve_udp(config), config);
  std::size_t lost = 0;
  while (const auto line = co_await input.read_line()) {
    try {
      write_stdout(co_await udp.exchange(*line));
      write_stdout("\n");
    } catch (const client_error& e) {
      ++lost;
      std::cerr << "echo-client: " << e.what() << '\n';
    }
  }
  co_return lost == 0 ? 0 : 1;
}

} // namespace

asio::awaitable<int> pipe_mode(const client_config& config, spdlog::logger& log) {
  using namespace asio::experimental::awaitable_operators;
  stdin_reader input(co_await asio::this_coro::executor);
  if (config.protocol == transport::udp) co_return co_await udp_lines(config, input);

  auto socket = co_await connect_tcp(config, log);
  pipe_state state{socket};
  const auto outcome = co_await (copy_server_to_stdout(state) || copy_stdin_to_server(state, input) ||
                                 drain_watchdog(state, config.timeout));
  if (outcome.index() == 2)
    throw client_error("tcp " + where(config) + ": the echo stopped for " + seconds_text(config.timeout) +
                       " after the input ended");
  co_return 0;
}

} // namespace echo
