// async_when_ready's per-operation cancellation, on a real loopback
// connection: raced against a timer in a coroutine (`||`), the loser is
// aborted and the socket keeps working; a cancellation slot bound by hand
// aborts it too, and only the operation it was bound to. Every wait is
// bounded, so a cancellation that never arrives fails the test, not hangs it.
#include "echo/server/reactor/when_ready.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

struct outcome {
  boost::system::error_code ec;
  std::size_t bytes = 0;
};

// The simplest Reader: appends what it reads to `text`.
struct text_reader {
  int descriptor;
  std::string* text;

  echo::read_result operator()() const {
    std::array<char, 256> buffer{};
    ssize_t got = 0;
    do {
      got = ::recv(descriptor, buffer.data(), buffer.size(), MSG_DONTWAIT);
    } while (got < 0 && errno == EINTR);
    if (got > 0) {
      text->append(buffer.data(), static_cast<std::size_t>(got));
      return {echo::read_result::state::read, static_cast<std::size_t>(got), {}};
    }
    if (got == 0) return {echo::read_result::state::drained, 0, asio::error::eof};
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
    return {echo::read_result::state::read, 0, boost::system::error_code(errno, asio::error::get_system_category())};
  }
};

// A connected pair on 127.0.0.1: `client` (plain blocking Asio socket) and
// `server`, the side the operations run on.
class WhenReady : public ::testing::Test {
protected:
  void SetUp() override {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    client.set_option(tcp::no_delay(true));
    acceptor.accept(server);
  }

  text_reader reader() { return {server.native_handle(), &received}; }

  // Runs the io_context until `done()`, for at most `limit`.
  template <typename Done>
  bool run_until(Done done, std::chrono::milliseconds limit = 3s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
      io.restart();
      io.run_one_for(10ms);
    }
    return done();
  }

  // Runs what is ready now, without waiting.
  void run_ready() {
    io.restart();
    io.poll();
  }

  // Starts a coroutine; `finished` and `failure` say how it ended.
  void spawn(asio::awaitable<void> coroutine) {
    asio::co_spawn(io, std::move(coroutine), [this](const std::exception_ptr& error) {
      failure = error;
      finished = true;
    });
  }

  // One operation, awaited in a coroutine (so that it gets the coroutine's
  // cancellation slot); its result lands in `out`. `||` keeps only the
  // winner's result, so this is how a test sees the loser's.
  asio::awaitable<void> read_once() {
    auto [ec, bytes] = co_await echo::async_when_ready(server, reader(), asio::as_tuple(asio::use_awaitable));
    loser = outcome{ec, bytes};
  }

  // (a)'s race: read_once against a timer of `limit`.
  asio::awaitable<void> race_read_once(std::chrono::milliseconds limit) {
    asio::steady_timer timer(io, limit);
    const auto which = co_await (read_once() || timer.async_wait(asio::use_awaitable));
    winner = which.index();
  }

  // (c)'s race: async_when_ready itself against a timer of `limit`.
  asio::awaitable<void> race_when_ready(std::chrono::milliseconds limit) {
    asio::steady_timer timer(io, limit);
    const auto which = co_await (echo::async_when_ready(server, reader(), asio::use_awaitable) ||
                                 timer.async_wait(asio::use_awaitable));
    winner = which.index();
    if (which.index() == 0) won_bytes = std::get<0>(which);
  }

  asio::io_context io{1};
  tcp::socket client{io};
  tcp::socket server{io};
  std::string received;
  bool finished = false;
  std::exception_ptr failure;
  std::optional<outcome> loser;         // read_once's result
  std::optional<std::size_t> winner;    // 0: the read, 1: the timer
  std::optional<std::size_t> won_bytes; // race_when_ready's read, when it won
};

// (a) Nothing comes: the timer wins, `||` cancels the read, which ends with
// operation_aborted; the socket is unharmed and the next operation reads
// what is sent after it started.
TEST_F(WhenReady, LosesARaceWithATimerAndTheSocketStillWorks) {
  spawn(race_read_once(50ms));
  ASSERT_TRUE(run_until([&] { return finished; })) << "the read was never cancelled, so `||` never finished";
  EXPECT_FALSE(failure);
  EXPECT_EQ(winner, 1u); // the timer
  ASSERT_TRUE(loser);
  EXPECT_EQ(loser->ec, asio::error::operation_aborted);
  EXPECT_EQ(received, "");

  std::optional<outcome> later;
  echo::async_when_ready(server, reader(), [&](boost::system::error_code ec, std::size_t bytes) {
    later = outcome{ec, bytes};
  });
  run_ready();
  EXPECT_FALSE(later); // waits: nothing sent yet
  asio::write(client, asio::buffer(std::string("after")));
  ASSERT_TRUE(run_until([&] { return later.has_value(); })) << "the socket no longer wakes a read";
  EXPECT_FALSE(later->ec) << later->ec.message();
  EXPECT_EQ(later->bytes, 5u);
  EXPECT_EQ(received, "after");
}

// (b) A slot bound by hand: each kind of cancellation Asio's socket
// operations accept ends a waiting read with operation_aborted; a second
// emission, after the operation ended, finds nothing and does no harm.
TEST_F(WhenReady, AnEmittedCancellationAbortsTheWaitingRead) {
  struct kind {
    asio::cancellation_type type;
    const char* name;
  };
  for (const auto [type, name] :
       {kind{asio::cancellation_type::terminal, "terminal"}, kind{asio::cancellation_type::partial, "partial"},
        kind{asio::cancellation_type::total, "total"}}) {
    SCOPED_TRACE(name);
    asio::cancellation_signal signal;
    std::optional<outcome> result;
    echo::async_when_ready(
        server, reader(), asio::bind_cancellation_slot(signal.slot(), [&](boost::system::error_code ec, std::size_t n) {
          result = outcome{ec, n};
        }));
    run_ready();
    ASSERT_FALSE(result); // waiting
    signal.emit(type);
    ASSERT_TRUE(run_until([&] { return result.has_value(); })) << "the emitted cancellation did not end the read";
    EXPECT_EQ(result->ec, asio::error::operation_aborted);
    signal.emit(type);
    run_ready();
  }
  // And the socket still works.
  std::optional<outcome> result;
  echo::async_when_ready(server, reader(), [&](boost::system::error_code ec, std::size_t n) {
    result = outcome{ec, n};
  });
  asio::write(client, asio::buffer(std::string("still")));
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_FALSE(result->ec) << result->ec.message();
  EXPECT_EQ(received, "still");
}

// Two reads waiting on one socket, each with its own slot: cancelling the
// first leaves the second waiting, and it reads what comes.
TEST_F(WhenReady, ACancellationEndsOnlyItsOwnOperation) {
  asio::cancellation_signal first_signal;
  asio::cancellation_signal second_signal;
  std::optional<outcome> first;
  std::optional<outcome> second;
  echo::async_when_ready(
      server, reader(),
      asio::bind_cancellation_slot(first_signal.slot(), [&](boost::system::error_code ec, std::size_t n) {
        first = outcome{ec, n};
      }));
  echo::async_when_ready(
      server, reader(),
      asio::bind_cancellation_slot(second_signal.slot(), [&](boost::system::error_code ec, std::size_t n) {
        second = outcome{ec, n};
      }));
  run_ready();
  ASSERT_FALSE(first);
  ASSERT_FALSE(second);
  first_signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until([&] { return first.has_value(); }));
  EXPECT_EQ(first->ec, asio::error::operation_aborted);
  run_ready();
  EXPECT_FALSE(second);
  asio::write(client, asio::buffer(std::string("second")));
  ASSERT_TRUE(run_until([&] { return second.has_value(); }));
  EXPECT_FALSE(second->ec) << second->ec.message();
  EXPECT_EQ(received, "second");
}

// (c) Data comes long before the timer: the read wins, with the data, and
// `||` ends then (it cancels the timer) rather than when the timer is due.
TEST_F(WhenReady, WinsARaceWithATimerWhenDataComesFirst) {
  spawn(race_when_ready(3s));
  run_ready();
  ASSERT_FALSE(finished); // both wait
  const auto start = std::chrono::steady_clock::now();
  asio::write(client, asio::buffer(std::string("first")));
  ASSERT_TRUE(run_until([&] { return finished; }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "the race ended only when the timer was due";
  EXPECT_FALSE(failure);
  EXPECT_EQ(winner, 0u); // the read
  EXPECT_EQ(won_bytes, 5u);
  EXPECT_EQ(received, "first");
}

} // namespace
