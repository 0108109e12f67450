#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace echo {

// Standard input for a coroutine. Terminals and pipes are read
// asynchronously through posix::stream_descriptor, so the socket keeps being
// served while we wait for the user; regular files and /dev/null, which
// epoll cannot watch, are read directly (such reads never block for long).
// The descriptor's flags are restored on destruction: a terminal shared with
// the shell must not stay non-blocking.
class stdin_reader {
public:
  explicit stdin_reader(const boost::asio::any_io_executor& executor);
  ~stdin_reader();
  stdin_reader(const stdin_reader&) = delete;
  stdin_reader& operator=(const stdin_reader&) = delete;

  // Some bytes, or 0 at end of input.
  boost::asio::awaitable<std::size_t> read_some(boost::asio::mutable_buffer buffer);
  // One line without its '\n'; nullopt at end of input. A last line without
  // '\n' is still a line.
  boost::asio::awaitable<std::optional<std::string>> read_line();

private:
  std::optional<boost::asio::posix::stream_descriptor> stream_;
  int saved_flags_ = -1;
  std::string pending_;
};

// For a terminal: the prompt (on stderr: stdout carries only what the server
// sent back), then the next line; nullopt at end of input, q or quit.
boost::asio::awaitable<std::optional<std::string>> prompt_line(stdin_reader& input);
// The two halves of prompt_line: the prompt, and the next line the user typed.
void show_prompt();
boost::asio::awaitable<std::optional<std::string>> user_line(stdin_reader& input);

// Writes all of `data` to stdout, waiting if stdout is non-blocking and
// full. Throws std::system_error when stdout is gone (EPIPE).
void write_stdout(std::string_view data);

bool stdin_is_terminal();

} // namespace echo
