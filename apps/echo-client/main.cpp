// echo-client: parse the command line, set up logging, run the chosen mode.
#include "echo/client/client_config.hpp"
#include "echo/client/echo_client.hpp"
#include "echo/common/logging.hpp"
#include "echo/common/usage_error.hpp"

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char* argv[]) {
  echo::client_command command;
  try {
    command = echo::parse_client_config(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const echo::usage_error& e) {
    std::cerr << "echo-client: " << e.what() << "\nTry 'echo-client --help'.\n";
    return 2;
  }
  if (command.what != echo::client_command::action::run) {
    std::cout << command.text;
    return 0;
  }
  // Logs go to stderr, so stdout carries only what the server sent back.
  auto log = echo::make_stderr_logger("echo-client", command.config.log_level, echo::log_format::text);
  return echo::run_client(command.config, *log);
}
