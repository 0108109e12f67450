#include "echo/client/connection/connect.hpp"
#include "echo/client/modes/console_io.hpp"
#include "echo/client/modes/echo_window.hpp"
#include "echo/client/modes/modes.hpp"
#include "echo/client/modes/udp_lines.hpp"
#include "echo/common/asio.hpp"
#include "echo/common/coro/deadline.hpp"
#include "echo/common/coro/wake_event.hpp"
#include "echo/common/duration_text.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <optional>
#include <vector>

namespace echo {
namespace {

using clock = std::chrono::steady_clock;

// Pipe over TCP: stdin to the server and the server's bytes to stdout, at
// the same time, so a large input cannot deadlock against its own echo. The
// three coroutines below are joined with &&: the first to fail cancels the
// others and its reason is the client's, so no failure goes unseen.
//
// Every byte that comes back is compared with the byte sent at that place in
// the stream. The bytes in flight are kept in a window of fixed size; when it
// is full the sender waits for the echo to catch up, so memory stays bounded
// and exit 0 means the echo was identical, not just as long.
constexpr std::size_t window_bytes = std::size_t{4} << 20;

struct pipe_state {
  client_stream& stream;
  const client_config& config;
  asio::steady_timer watchdog_timer{stream.get_executor()};
  echo_window window{window_bytes};
  wake_event window_has_room{stream.get_executor()};
  bool waiting_for_room = false; // the sender waits for the echo to catch up
  std::uint64_t sent = 0;        // bytes written to the server
  bool sending = false;          // a write to the server is under way
  bool input_done = false;       // stdin ended (and we half-closed, unless --no-shutdown)
  bool echo_done = false;        // everything came back: the server closed, or all of it with --no-shutdown
  clock::time_point last_progress = clock::now();

  std::string counts() const {
    return std::to_string(window.matched()) + " of " + std::to_string(sent) + " bytes echoed";
  }
  std::optional<std::string> failure{}; // the first part to fail says why

  // With --no-shutdown the server is never told the input ended, so the pipe
  // ends when every byte sent has come back, not at the server's close.
  bool echo_complete() const { return !config.half_close && input_done && window.matched() == sent; }
  void finish() {
    echo_done = true;
    watchdog_timer.cancel(); // done: no need to wait for its next tick
    error_code ignored;
    stream.cancel(ignored); // wakes the reader if it is waiting
  }

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
    while (state.window.room() < n) {
      state.waiting_for_room = true;
      co_await state.window_has_room.wait();
      state.waiting_for_room = false;
      if (state.failure || (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
        co_return; // another part failed and said why
    }
    state.window.push({chunk.data(), n});
    auto [ec, written] = co_await asio::async_write(state.stream, asio::buffer(chunk.data(), n), nothrow);
    state.sending = false;
    state.sent += written;
    if (ec == asio::error::operation_aborted) co_return; // another part failed and said why
    if (ec) state.fail("sending failed: " + ec.message());
    state.last_progress = clock::now();
  }
  // The half-close: a FIN, or over TLS our close_notify (the watchdog bounds
  // its write as it bounds the others).
  if (state.config.half_close) {
    state.sending = true;
    const auto ec = co_await state.stream.finish_sending();
    state.sending = false;
    if (ec == asio::error::operation_aborted) co_return; // another part failed and said why
    if (ec) state.fail("cannot finish sending: " + ec.message());
  }
  state.input_done = true;
  state.last_progress = clock::now();
  if (state.echo_complete()) state.finish(); // --no-shutdown, and the echo was already all back
}

asio::awaitable<void> copy_server_to_stdout(pipe_state& state) {
  std::vector<char> chunk(65536);
  for (;;) {
    auto [ec, n] = co_await state.stream.async_read_some(asio::buffer(chunk), nothrow);
    if (is_end_of_stream(ec)) {
      if (!state.input_done) state.fail("the server closed the connection before the input ended");
      if (state.window.matched() < state.sent) state.fail("the server closed the connection with the echo short");
      state.finish();
      co_return;
    }
    if (ec == asio::error::operation_aborted) co_return; // done, or another part failed and said why
    if (ec) state.fail("connection lost: " + ec.message());
    const auto differs = state.window.match({chunk.data(), n});
    const auto good = differs.value_or(n); // what matched is passed on even when the rest is wrong
    try {
      write_stdout(std::string_view(chunk.data(), good));
    } catch (const std::system_error& e) {
      state.fail(std::string("cannot write the echo: ") + e.what());
    }
    if (differs) {
      if (state.window.size() == 0) state.fail("the server sent more than it was sent");
      state.fail("the echo differs from the input at offset " + std::to_string(state.window.matched()));
    }
    state.window_has_room.notify();
    state.last_progress = clock::now();
    if (state.echo_complete()) {
      state.finish();
      co_return;
    }
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
      state.fail(state.input_done         ? "the echo stopped for " + seconds_text(timeout) + " after the input ended"
                 : state.waiting_for_room ? "the echo stopped for " + seconds_text(timeout) + " while sending"
                                          : "the server took no data and sent none for " + seconds_text(timeout));
  }
}

} // namespace

asio::awaitable<int> pipe_mode(const client_config& config, spdlog::logger& log) {
  using namespace asio::experimental::awaitable_operators;
  stdin_reader input(co_await asio::this_coro::executor);
  if (config.protocol == transport::udp) co_return co_await udp_lines(config, input, line_source::pipe);

  auto stream = co_await connect_stream(config, log);
  pipe_state state{stream, config};
  try {
    co_await (copy_server_to_stdout(state) && copy_stdin_to_server(state, input) && watchdog(state));
  } catch (...) {
    // The others end by the cancellation the first failure causes, with
    // exceptions of their own: the reason is the one recorded first.
    if (state.failure) throw client_error(*state.failure);
    throw;
  }
  co_await finished_within(config.timeout, stream.finish());
  co_return 0;
}

} // namespace echo
