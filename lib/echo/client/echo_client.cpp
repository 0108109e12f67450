#include "echo/client/echo_client.hpp"

#include "echo/client/bench/load_generator.hpp"
#include "echo/client/bench/merge_mode.hpp"
#include "echo/client/exit_codes.hpp"
#include "echo/client/modes/console_io.hpp"
#include "echo/client/modes/modes.hpp"
#include "echo/common/asio.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <csignal>

namespace echo {
namespace {

asio::awaitable<int> run_mode(const client_config& config, spdlog::logger& log) {
  if (!config.merge.empty()) co_return co_await merge_mode(config);
  if (config.bench) co_return co_await run_load_generator(config, log);
  if (config.probe) co_return co_await probe_mode(config, log);
  if (config.message) co_return co_await message_mode(config, log);
  if (stdin_is_terminal()) co_return co_await interactive_mode(config, log);
  co_return co_await pipe_mode(config, log);
}

} // namespace

int run_client(const client_config& config, spdlog::logger& log) {
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  int exit_code = exit_failure;
  asio::co_spawn(io, run_mode(config, log), [&](const std::exception_ptr& failure, int code) {
    exit_code = failure ? report_failure(failure, failure_stage::running) : code;
  });
  io.run();
  return exit_code;
}

} // namespace echo
