#include "echo/client/echo_client.hpp"

#include "echo/client/modes/console_io.hpp"
#include "echo/client/bench/load_generator.hpp"
#include "echo/client/bench/merge_reports.hpp"
#include "echo/client/modes/modes.hpp"
#include "echo/common/asio.hpp"
#include "echo/common/usage_error.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <csignal>
#include <iostream>

namespace echo {
namespace {

asio::awaitable<int> run_mode(const client_config& config, spdlog::logger& log) {
  if (config.bench) co_return co_await run_load_generator(config, log);
  if (config.message) co_return co_await message_mode(config, log);
  if (stdin_is_terminal()) co_return co_await interactive_mode(config, log);
  co_return co_await pipe_mode(config, log);
}

} // namespace

int run_client(const client_config& config, spdlog::logger& log) {
  std::signal(SIGPIPE, SIG_IGN);
  if (!config.merge.empty()) {
    // No network: reports in, one report out. A file that is not a report,
    // or reports of different runs, are usage errors (exit 2).
    try {
      const auto merged = merge_reports(config.merge);
      std::cout << (config.json ? format_json(merged) : format_text(merged)) << std::flush;
      return merged.errors == 0 && merged.mismatches == 0 ? 0 : 1;
    } catch (const usage_error& e) {
      std::cerr << "echo-client: " << e.what() << '\n';
      return 2;
    }
  }
  asio::io_context io(1);
  int exit_code = 1;
  asio::co_spawn(io, run_mode(config, log), [&](const std::exception_ptr& failure, int code) {
    if (!failure) {
      exit_code = code;
      return;
    }
    try {
      std::rethrow_exception(failure);
    } catch (const usage_error& e) { // a --tls-ca, --cert or --key file that cannot be used
      std::cerr << "echo-client: " << e.what() << '\n';
      exit_code = 2;
    } catch (const std::exception& e) {
      std::cerr << "echo-client: " << e.what() << '\n';
    }
  });
  io.run();
  return exit_code;
}

} // namespace echo
