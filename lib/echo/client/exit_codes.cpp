#include "echo/client/exit_codes.hpp"

#include "echo/common/usage_error.hpp"

#include <iostream>

namespace echo {

exit_status exit_status_of(const std::exception_ptr& failure, failure_stage stage) {
  const std::string program = "echo-client: ";
  // Only a bug would get here without an exception; still a failure, never
  // a rethrow of nothing.
  if (!failure) return {exit_failure, program + "unknown error\n"};
  try {
    std::rethrow_exception(failure);
  } catch (const usage_error& e) {
    const auto hint = stage == failure_stage::parsing ? "Try 'echo-client --help'.\n" : "";
    return {exit_usage, program + e.what() + "\n" + hint};
  } catch (const std::exception& e) {
    return {exit_failure, program + e.what() + "\n"};
  } catch (...) {
    return {exit_failure, program + "unknown error\n"};
  }
}

int report_failure(const std::exception_ptr& failure, failure_stage stage) {
  const auto status = exit_status_of(failure, stage);
  std::cerr << status.message << std::flush;
  return status.code;
}

} // namespace echo
