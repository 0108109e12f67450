#pragma once

#include <exception>
#include <string>

namespace echo {

// echo-client's exit codes (docs/client.md; the SPEC keeps them):
//
//   code  meaning                                   where it comes from
//   0     success                                   a mode that did what was asked; --help, --version
//   1     failure: refused, unreachable, timed      a mode's own result (a lost datagram, a run or report
//         out, the reply differs; one line on        with errors); any exception but usage_error
//         stderr naming the cause
//   2     usage error, naming the option and the    usage_error, thrown while parsing the command line or
//         value                                     later (a --tls-ca, --cert or --key file that cannot be
//                                                   used, --merge files that are not reports of one run)
//
// A mode returns 0 or 1 itself; every exception becomes a code here and
// nowhere else.
inline constexpr int exit_success = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

// Where the failure happened: a usage error on the command line is followed
// by a pointer to --help; one found later is about a file or a value the
// user has just seen named, and ends there.
enum class failure_stage { parsing, running };

struct exit_status {
  int code = exit_failure;
  std::string message; // whole lines for stderr
};

// The exit code and the message for stderr of a failure thrown while parsing
// or by a mode.
exit_status exit_status_of(const std::exception_ptr& failure, failure_stage stage);

// exit_status_of(), with its message written to stderr: returns the code.
int report_failure(const std::exception_ptr& failure, failure_stage stage);

} // namespace echo
