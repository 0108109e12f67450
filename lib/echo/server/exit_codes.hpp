#pragma once

#include <exception>
#include <stdexcept>
#include <string>

namespace echo {

// echo-server's exit codes, mapped from errors here and nowhere else:
//
//   0  a clean stop (SIGINT or SIGTERM, sessions drained or closed)
//   1  a runtime failure: an address in use, a socket systemd passed that
//      cannot be served, anything unexpected (the message names the address
//      or descriptor)
//   2  a usage or configuration error: an option, a value, the config file,
//      a TLS certificate or key that cannot be used (the message names them)
inline constexpr int exit_clean_stop = 0;
inline constexpr int exit_runtime_failure = 1;
inline constexpr int exit_usage_error = 2;

// A runtime failure that no failing call explains (a socket systemd passed
// that works but cannot be served as meant): exit 1, the message as it is.
struct runtime_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct server_failure {
  int exit_code = exit_runtime_failure;
  std::string message; // one line, for stderr or the log
};

// What `failure` (an exception caught anywhere from parsing the command line
// to the end of serving) means: its exit code and its message.
server_failure describe_failure(const std::exception_ptr& failure);

} // namespace echo
