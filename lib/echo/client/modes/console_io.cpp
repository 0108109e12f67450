#include "echo/client/modes/console_io.hpp"

#include "echo/common/asio.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <iostream>
#include <system_error>

namespace echo {

stdin_reader::stdin_reader(const asio::any_io_executor& executor) {
  saved_flags_ = ::fcntl(STDIN_FILENO, F_GETFL);
  const int copy = ::dup(STDIN_FILENO);
  if (copy < 0) return;
  stream_.emplace(executor);
  boost::system::error_code ec;
  stream_->assign(copy, ec);
  if (ec) { // a regular file or /dev/null: epoll refuses it
    ::close(copy);
    stream_.reset();
  }
}

stdin_reader::~stdin_reader() {
  stream_.reset();
  if (saved_flags_ != -1) ::fcntl(STDIN_FILENO, F_SETFL, saved_flags_);
}

asio::awaitable<std::size_t> stdin_reader::read_some(asio::mutable_buffer buffer) {
  if (!stream_) {
    for (;;) {
      const auto n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
      if (n >= 0) co_return static_cast<std::size_t>(n);
      if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "reading standard input");
    }
  }
  auto [ec, n] = co_await stream_->async_read_some(buffer, nothrow);
  if (ec == asio::error::eof) co_return 0;
  if (ec) throw std::system_error(ec, "reading standard input");
  co_return n;
}

asio::awaitable<std::optional<std::string>> stdin_reader::read_line() {
  std::array<char, 4096> chunk{};
  for (;;) {
    const auto newline = pending_.find('\n');
    if (newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      co_return line;
    }
    const auto n = co_await read_some(asio::buffer(chunk));
    if (n == 0) {
      if (pending_.empty()) co_return std::nullopt;
      co_return std::exchange(pending_, {});
    }
    pending_.append(chunk.data(), n);
  }
}

asio::awaitable<std::optional<std::string>> user_line(stdin_reader& input) {
  auto line = co_await input.read_line();
  if (line && (*line == "q" || *line == "quit")) line.reset();
  co_return line;
}

void show_prompt() { std::cerr << "> " << std::flush; }

asio::awaitable<std::optional<std::string>> prompt_line(stdin_reader& input) {
  show_prompt();
  co_return co_await user_line(input);
}

void write_stdout(std::string_view data) {
  while (!data.empty()) {
    const auto n = ::write(STDOUT_FILENO, data.data(), data.size());
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN) {
      // A terminal shares its file description with stdin, which Asio made
      // non-blocking: wait until it takes more.
      pollfd out{STDOUT_FILENO, POLLOUT, 0};
      ::poll(&out, 1, -1);
    } else if (errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "writing standard output");
    }
  }
}

bool stdin_is_terminal() { return ::isatty(STDIN_FILENO) == 1; }

} // namespace echo
