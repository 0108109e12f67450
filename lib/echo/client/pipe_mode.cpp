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
#include <optional>
#include <vector>

namespace echo {
namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;

// Pipe over TCP: stdin to the server and the server's bytes to stdout, at
// the same time, so a large input cannot deadlock against its own echo. The
// three coroutines below are joined with &&: the first to fail cancels the
// others and its reason is the client's, so no failure goes unseen.
struct pipe_state {
  tcp::socket& socket;
  const client_config& config;
  asio::steady_timer watchdog_timer{socket.get_executor()};
  std::uint64_t sent = 0;     // bytes written to the server
  std::uint64_t received = 0; // bytes of echo written to stdout
  bool sending = false;       // a write to the server is under way
  bool input_done = false;    // stdin ended and we half-closed
  bool echo_done = false;     // the server closed after echoing everything
  clock::time_point last_progress = clock::now();

  std::string counts() const { return std::to_string(received) + " of " + std::to_string(sent) + " bytes echoed"; }
  std::optional<std::string> failure{}; // the first part to fail says why

  [[noreturn]] void fail(const std::string& why) {
    if (!failure) failure = failure_text(config, why + " (" + counts() + ")");
    throw client_error(*failure);
  }
};

asio::awaitable<void> copy_stdin_to_server(pipe_state& state, stdin_reader& input) {
  std::vector<char> chunk(65536);
  for (;;) {
    const auto n = co_await input.read_some(asio::buffer(chunk));
    if (n == 0) break;
    state.sending = true;
    auto [ec, written] = co_await asio::async_write(state.socket, asio::buffer(chunk.data(), n), nothrow);
    state.sending = false;
    state.sent += written;
    if (ec == asio::error::operation_aborted) co_return; // another part failed and said why
    if (ec) state.fail("sending failed: " + ec.message());
    state.last_progress = clock::now();
  }
  error_code ec;
  state.socket.shutdown(tcp::socket::shutdown_send, ec);
  state.input_done = true;
  state.last_progress = clock::now();
}

asio::awaitable<void> copy_server_to_stdout(pipe_state& state) {
  std::vector<char> chunk(65536);
  for (;;) {
    auto [ec, n] = co_await state.socket.async_read_some(asio::buffer(chunk), nothrow);
    if (ec == asio::error::eof) {
      if (!state.input_done) state.fail("the server closed the connection before the input ended");
      if (state.received < state.sent) state.fail("the server closed the connection with the echo short");
      if (state.received > state.sent) state.fail("the server sent more than it was sent");
      state.echo_done = true;
      state.watchdog_timer.cancel(); // done: no need to wait for its next tick
      co_return;
    }
    if (ec == asio::error::operation_aborted) co_return; // another part failed and said why
    if (ec) state.fail("connection lost: " + ec.message());
    try {
      write_stdout(std::string_view(chunk.data(), n));
    } catch (const std::system_error& e) {
      state.fail(std::string("cannot write the echo: ") + e.what());
    }
    state.received += n;
    state.last_progress = clock::now();
  }
}

// Nothing may wait forever: while we are sending, or once the input has
// ended, something must move within the timeout. (Waiting for more input on
// stdin is the user's business and never times out.)
asio::awaitable<void> watchdog(pipe_state& state) {
  const auto timeout = state.config.timeout;
  auto& timer = state.watchdog_timer;
  while (!state.echo_done) {
    timer.expires_after(std::max(timeout / 10, std::chrono::milliseconds(1)));
    auto [ec] = co_await timer.async_wait(nothrow);
    if (state.echo_done || ec) co_return; // done, or cancelled because another part failed
    if ((state.sending || state.input_done) && !state.echo_done && clock::now() - state.last_progress >= timeout)
      state.fail(state.input_done ? "the echo stopped for " + seconds_text(timeout) + " after the input ended"
                                  : "the server took no data and sent none for " + seconds_text(timeout));
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
  pipe_state state{socket, config};
  try {
    co_await (copy_server_to_stdout(state) && copy_stdin_to_server(state, input) && watchdog(state));
  } catch (...) {
    // The others end by the cancellation the first failure causes, with
    // exceptions of their own: the reason is the one recorded first.
    if (state.failure) throw client_error(*state.failure);
    throw;
  }
  co_return 0;
}

} // namespace echo
