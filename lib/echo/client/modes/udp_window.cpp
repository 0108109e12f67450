#include "echo/client/modes/udp_window.hpp"

#include "echo/client/connection/connect.hpp"
#include "echo/common/coro/deadline.hpp"
#include "echo/common/duration_text.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <deque>
#include <iostream>
#include <string>
#include <vector>

namespace echo {
namespace {

using clock = std::chrono::steady_clock;

struct sent_line {
  std::string payload;
  clock::time_point at;
};

struct window_state {
  const client_config& config;
  udp_exchanger& udp;
  asio::steady_timer sender_wake; // cancelled when a line is answered or given up on
  std::deque<sent_line> in_flight;
  bool input_done = false;
  std::size_t lost = 0;

  clock::duration send_ahead_after() const { return std::min<clock::duration>(send_ahead, config.timeout); }

  // A line left the window: the sender may have room again.
  void settle(std::deque<sent_line>::iterator line) {
    in_flight.erase(line);
    sender_wake.cancel();
  }

  void give_up(std::deque<sent_line>::iterator line, const std::string& why) {
    ++lost;
    udp.remember_lost(line->payload);
    std::cerr << "echo-client: " << failure_text(config, why) << '\n';
    settle(line);
  }
};

asio::awaitable<void> send_lines(window_state& state, stdin_reader& input) {
  auto& socket = state.udp.socket();
  while (const auto line = co_await input.read_line()) {
    for (;;) {
      const auto now = clock::now();
      if (state.in_flight.empty()) break;
      const auto& newest = state.in_flight.back();
      const bool room = state.in_flight.size() < max_in_flight;
      if (room && now - newest.at >= state.send_ahead_after()) break;
      // Until the newest line is answered or overdue, or, with the window
      // full, until the oldest is given up on (each wakes us sooner).
      const auto until =
          room ? newest.at + state.send_ahead_after() : state.in_flight.front().at + state.config.timeout;
      state.sender_wake.expires_at(std::max(until, now + std::chrono::milliseconds(1)));
      co_await state.sender_wake.async_wait(nothrow);
    }
    error_code ec;
    socket.send(asio::buffer(*line), 0, ec);
    if (ec) {
      ++state.lost;
      std::cerr << "echo-client: " << failure_text(state.config, "cannot send: " + ec.message()) << '\n';
      continue;
    }
    state.in_flight.push_back({*line, clock::now()});
    if (state.in_flight.size() == 1) socket.cancel(); // the receiver waits with no line to time: it has one now
  }
  state.input_done = true;
  socket.cancel(); // the receiver may be waiting with nothing in flight: it is done
}

asio::awaitable<void> receive_replies(window_state& state) {
  auto& socket = state.udp.socket();
  std::vector<char> reply(65536);
  const auto timeout_text = "no reply within " + seconds_text(state.config.timeout);
  for (;;) {
    if (state.in_flight.empty() && state.input_done) co_return;
    // Nothing in flight: wait for the sender (it cancels the receive), a
    // second at a time.
    const auto left = state.in_flight.empty() ? clock::duration(std::chrono::seconds(1))
                                              : state.in_flight.front().at + state.config.timeout - clock::now();
    if (left <= clock::duration::zero()) {
      state.give_up(state.in_flight.begin(), timeout_text);
      continue;
    }
    error_code ec;
    std::size_t received = 0;
    const bool done = co_await finished_within(left, [&]() -> asio::awaitable<void> {
      auto [receive_ec, n] = co_await socket.async_receive(asio::buffer(reply), nothrow);
      ec = receive_ec;
      received = n;
    }());
    if (!done || ec == asio::error::operation_aborted) continue; // time is up for a line, or the sender woke us
    if (ec) {
      // An ICMP error (port unreachable) for a datagram sent: the oldest line's.
      if (!state.in_flight.empty()) state.give_up(state.in_flight.begin(), ec.message());
      continue;
    }
    const std::string_view text(reply.data(), received);
    auto line = std::find_if(state.in_flight.begin(), state.in_flight.end(),
                             [&](const sent_line& sent) { return sent.payload == text; });
    if (line == state.in_flight.end() && state.udp.is_lost(text)) {
      state.udp.report_late(text); // the echo of a line given up on is not the answer to another
      continue;
    }
    if (line == state.in_flight.end() && state.in_flight.empty()) {
      state.udp.report_late(text);
      continue;
    }
    // A reply that matches no line is the oldest line's, changed by the server.
    if (line == state.in_flight.end()) line = state.in_flight.begin();
    write_stdout(text);
    write_stdout("\n");
    state.settle(line);
  }
}

} // namespace

asio::awaitable<std::size_t> udp_window(const client_config& config, stdin_reader& input, udp_exchanger& udp) {
  using namespace asio::experimental::awaitable_operators;
  // (The executor first: GCC 12 miscompiles a co_await inside a braced initialiser.)
  const auto executor = co_await asio::this_coro::executor;
  window_state state{config, udp, asio::steady_timer(executor), {}};
  co_await (receive_replies(state) && send_lines(state, input));
  co_return state.lost;
}

} // namespace echo
