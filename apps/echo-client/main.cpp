// echo-client: parse the command line, set up logging, run the chosen mode.
#include "echo/client/config/client_config.hpp"
#include "echo/client/echo_client.hpp"
#include "echo/client/exit_codes.hpp"
#include "echo/common/logging.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <string>
#include <vector>

// A program started with stdin, stdout or stderr closed (`echo-client <&-`)
// would hand those numbers to its own sockets and descriptors, and then read
// or write them as if they were the terminal: give each closed one /dev/null.
void open_missing_standard_descriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    const int null = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (null != -1 && null != fd) {
      ::dup2(null, fd);
      ::close(null);
    }
  }
}

int main(int argc, char* argv[]) {
  open_missing_standard_descriptors();
  echo::client_command command;
  try {
    command = echo::parse_client_config(std::vector<std::string>(argv + 1, argv + argc));
  } catch (...) {
    return echo::report_failure(std::current_exception(), echo::failure_stage::parsing);
  }
  if (command.what != echo::client_command::action::run) {
    std::cout << command.text;
    return echo::exit_success;
  }
  // Logs go to stderr, so stdout carries only what the server sent back.
  auto log = echo::make_stderr_logger("echo-client", command.config.log_level, echo::log_format::text);
  return echo::run_client(command.config, *log);
}
