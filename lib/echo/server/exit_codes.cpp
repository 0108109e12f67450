#include "echo/server/exit_codes.hpp"

#include "echo/common/usage_error.hpp"

#include <system_error>

namespace echo {

server_failure describe_failure(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const usage_error& e) {
    return {exit_usage_error, e.what()};
  } catch (const std::system_error& e) { // binding, systemd's sockets: the message names the address
    return {exit_runtime_failure, e.what()};
  } catch (const runtime_failure& e) {
    return {exit_runtime_failure, e.what()};
  } catch (const std::exception& e) {
    return {exit_runtime_failure, std::string("fatal: ") + e.what()};
  } catch (...) {
    return {exit_runtime_failure, "fatal: an unknown exception"};
  }
}

} // namespace echo
