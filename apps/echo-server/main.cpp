// echo-server: parse the configuration, set up logging, serve.
#include "echo/common/logging.hpp"
#include "echo/server/exit_codes.hpp"
#include "echo/server/serve.hpp"
#include "echo/server/server_config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <string>
#include <vector>

extern char** environ;

int main(int argc, char* argv[]) {
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) environment.emplace_back(*entry);

  echo::server_command command;
  try {
    command = echo::parse_server_config(std::vector<std::string>(argv + 1, argv + argc), environment);
  } catch (...) {
    const auto failure = echo::describe_failure(std::current_exception());
    std::cerr << "echo-server: " << failure.message << '\n';
    if (failure.exit_code == echo::exit_usage_error) std::cerr << "Try 'echo-server --help'.\n";
    return failure.exit_code;
  }
  if (command.what != echo::server_command::action::run) {
    std::cout << command.text;
    return echo::exit_clean_stop;
  }
  const auto& config = command.config;
  auto log = echo::make_stderr_logger("echo-server", config.log_level, config.format);
  if (!command.set_aside.empty())
    log->info("ignoring Kubernetes service-link variables: {}", fmt::join(command.set_aside, " "));
  try {
    return echo::serve(config, log);
  } catch (...) {
    const auto failure = echo::describe_failure(std::current_exception());
    echo::log_fatal(*log, failure.message);
    return failure.exit_code;
  }
}
