#include "echo/echo_client.hpp"

#include "echo/console_io.hpp"
#include "echo/duration_text.hpp"
#include "echo/endpoint_format.hpp"
#include "echo/load_generator.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <csignal>
#include <iostream>
#include <variant>

namespace echo {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;
using clock = std::chrono::steady_clock;

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// After the whole message has come back, how long -m waits for the server
// to close (or send more, as a server that changes the data may).
constexpr auto reply_grace = std::chrono::milliseconds(200);

std::string where(const client_config& c) { return c.host + " port " + std::to_string(c.port); }

// Runs `op` with a deadline: true when it finished, false when time ran out
// (the operation is then cancelled).
asio::awaitable<bool> finished_within(clock::duration limit, asio::awaitable<void> op) {
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  const auto outcome = co_await (std::move(op) || timer.async_wait(asio::use_awaitable));
  co_return outcome.index() == 0;
}

// ---- UDP: one request, one reply, trying each address in turn ----------

class udp_exchanger {
public:
  udp_exchanger(std::vector<udp::endpoint> endpoints, const client_config& config)
      : endpoints_(std::move(endpoints)), config_(config) {}

  // Sends `payload` and returns the reply, trying every address until one
  // answers within the timeout (the one that answers is used from then on).
  asio::awaitable<std::string> exchange(std::string_view payload) {
    const auto executor = co_await asio::this_coro::executor;
    std::string last_error = "no reply within " + seconds_text(config_.timeout);
    for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
      const auto index = (current_ + tried) % endpoints_.size();
      if (!socket_ || index != current_) {
        socket_.emplace(executor);
        socket_->open(endpoints_[index].protocol());
        socket_->connect(endpoints_[index]); // so ICMP "port unreachable" reaches us
        current_ = index;
      }
      error_code ec;
      socket_->send(asio::buffer(payload), 0, ec);
      if (ec) {
        last_error = ec.message();
        continue;
      }
      std::string reply(65536, '\0');
      std::size_t received = 0;
      const bool answered = co_await finished_within(config_.timeout, [&]() -> asio::awaitable<void> {
        auto [receive_ec, n] = co_await socket_->async_receive(asio::buffer(reply), nothrow);
        ec = receive_ec;
        received = n;
      }());
      if (answered && !ec) {
        reply.resize(received);
        co_return reply;
      }
      last_error = answered ? ec.message() : "no reply within " + seconds_text(config_.timeout);
    }
    throw client_error("udp " + where(config_) + ": " + last_error);
  }

private:
  std::vector<udp::endpoint> endpoints_;
  const client_config& config_;
  std::optional<udp::socket> socket_;
  std::size_t current_ = 0;
};

// ---- modes ---------------------------------------------------------------

void report_mismatch(const std::string& expected, const std::string& got) {
  throw client_error("reply differs from the message: sent " + std::to_string(expected.size()) +
                     " bytes, got " + std::to_string(got.size()) + " bytes");
}

// -m over TCP: send, half-close, collect the reply until the server closes.
asio::awaitable<std::string> tcp_message(const client_config& config, spdlog::logger& log) {
  auto socket = co_await connect_tcp(config, log);
  const auto& text = *config.message;
  co_await asio::async_write(socket, asio::buffer(text), asio::use_awaitable);
  error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);

  std::string reply;
  std::array<char, 65536> chunk{};
  for (;;) {
    const auto limit = reply.size() >= text.size() ? clock::duration(reply_grace) : config.timeout;
    std::size_t n = 0;
    const bool done = co_await finished_within(limit, [&]() -> asio::awaitable<void> {
      auto [read_ec, got] = co_await socket.async_read_some(asio::buffer(chunk), nothrow);
      ec = read_ec;
      n = got;
    }());
    if (!done) {
      if (reply.size() >= text.size()) break; // all back; the server just keeps the line open
      throw client_error("tcp " + where(config) + ": no complete reply within " +
                         seconds_text(config.timeout) + " (got " + std::to_string(reply.size()) + " of " +
                         std::to_string(text.size()) + " bytes)");
    }
    if (ec == asio::error::eof) break;
    if (ec) throw client_error("tcp " + where(config) + ": " + ec.message());
    reply.append(chunk.data(), n);
  }
  if (reply.size() < text.size())
    throw client_error("tcp " + where(config) + ": connection closed after " + std::to_string(reply.size()) +
                       " of " + std::to_string(text.size()) + " bytes");
  co_return reply;
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
  if (config.check && reply != *config.message) report_mismatch(*config.message, reply);
  co_return 0;
}

// Interactive: a prompt, a line, its reply.
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
  for (;;) {
    write_stdout("> ");
    const auto line = co_await input.read_line();
    if (!line || *line == "q" || *line == "quit") break;
    std::string reply;
    if (udp) {
      reply = co_await udp->exchange(*line);
    } else {
      const std::string request = *line + '\n';
      co_await asio::async_write(*socket, asio::buffer(request), asio::use_awaitable);
      error_code ec;
      std::size_t n = 0;
      const bool answered = co_await finished_within(config.timeout, [&]() -> asio::awaitable<void> {
        auto [read_ec, got] =
            co_await asio::async_read_until(*socket, asio::dynamic_buffer(received), '\n', nothrow);
        ec = read_ec;
        n = got;
      }());
      if (!answered) throw client_error("tcp " + where(config) + ": no reply within " + seconds_text(config.timeout));
      if (ec == asio::error::eof) throw client_error("tcp " + where(config) + ": the server closed the connection");
      if (ec) throw client_error("tcp " + where(config) + ": " + ec.message());
      reply = received.substr(0, n - 1);
      received.erase(0, n);
    }
    write_stdout(reply);
    write_stdout("\n");
  }
  co_return 0;
}

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

asio::awaitable<int> pipe_mode(const client_config& config, spdlog::logger& log) {
  const auto executor = co_await asio::this_coro::executor;
  stdin_reader input(executor);
  if (config.protocol == transport::udp) {
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

  auto socket = co_await connect_tcp(config, log);
  pipe_state state{socket};
  const auto outcome = co_await (copy_server_to_stdout(state) || copy_stdin_to_server(state, input) ||
                                 drain_watchdog(state, config.timeout));
  if (outcome.index() == 2)
    throw client_error("tcp " + where(config) + ": the echo stopped for " + seconds_text(config.timeout) +
                       " after the input ended");
  co_return 0;
}

asio::awaitable<int> run_mode(const client_config& config, spdlog::logger& log) {
  if (config.bench) co_return co_await run_load_generator(config, log);
  if (config.message) co_return co_await message_mode(config, log);
  if (stdin_is_terminal()) co_return co_await interactive_mode(config, log);
  co_return co_await pipe_mode(config, log);
}

} // namespace

asio::awaitable<tcp::socket> connect_tcp(const client_config& config, spdlog::logger& log) {
  const auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [resolve_ec, results] = co_await resolver.async_resolve(config.host, std::to_string(config.port), nothrow);
  if (resolve_ec) throw client_error("cannot resolve " + config.host + ": " + resolve_ec.message());

  std::string last_error = "no address";
  for (const auto& entry : results) {
    tcp::socket socket(executor);
    error_code ec;
    const bool done = co_await finished_within(config.timeout, [&]() -> asio::awaitable<void> {
      auto [connect_ec] = co_await socket.async_connect(entry.endpoint(), nothrow);
      ec = connect_ec;
    }());
    if (done && !ec) {
      socket.set_option(tcp::no_delay(true), ec);
      log.debug("connected to {}", entry.endpoint());
      co_return socket;
    }
    last_error = done ? ec.message() : "timed out after " + seconds_text(config.timeout);
    log.debug("connect to {} failed: {}", entry.endpoint(), last_error);
  }
  throw client_error("cannot connect to " + where(config) + ": " + last_error);
}

asio::awaitable<std::vector<udp::endpoint>> resolve_udp(const client_config& config) {
  udp::resolver resolver(co_await asio::this_coro::executor);
  auto [ec, results] = co_await resolver.async_resolve(config.host, std::to_string(config.port), nothrow);
  if (ec) throw client_error("cannot resolve " + config.host + ": " + ec.message());
  std::vector<udp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  co_return endpoints;
}

int run_client(const client_config& config, spdlog::logger& log) {
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  int exit_code = 1;
  asio::co_spawn(io, run_mode(config, log), [&](const std::exception_ptr& failure, int code) {
    if (!failure) {
      exit_code = code;
      return;
    }
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::cerr << "echo-client: " << e.what() << '\n';
    }
  });
  io.run();
  return exit_code;
}

} // namespace echo
