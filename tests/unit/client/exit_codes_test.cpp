#include "echo/client/exit_codes.hpp"
#include "echo/common/usage_error.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <system_error>

namespace {

using echo::exit_status_of;
using echo::failure_stage;

template <class Exception>
std::exception_ptr thrown(Exception e) {
  return std::make_exception_ptr(std::move(e));
}

TEST(ExitCodes, TheDocumentedNumbers) {
  EXPECT_EQ(echo::exit_success, 0);
  EXPECT_EQ(echo::exit_failure, 1);
  EXPECT_EQ(echo::exit_usage, 2);
}

TEST(ExitCodes, UsageErrorOnTheCommandLinePointsToHelp) {
  const auto s =
      exit_status_of(thrown(echo::usage_error("--tcp and --udp exclude each other")), failure_stage::parsing);
  EXPECT_EQ(s.code, 2);
  EXPECT_EQ(s.message, "echo-client: --tcp and --udp exclude each other\nTry 'echo-client --help'.\n");
}

TEST(ExitCodes, UsageErrorWhileRunningIsStillTwoWithoutTheHint) {
  // A --tls-ca file that is not PEM, or --merge files of different runs.
  const auto s =
      exit_status_of(thrown(echo::usage_error("cannot merge b.json: not a JSON object")), failure_stage::running);
  EXPECT_EQ(s.code, 2);
  EXPECT_EQ(s.message, "echo-client: cannot merge b.json: not a JSON object\n");
}

TEST(ExitCodes, AnyOtherExceptionIsAFailure) {
  const auto s =
      exit_status_of(thrown(std::runtime_error("tcp localhost port 9001: connection refused")), failure_stage::running);
  EXPECT_EQ(s.code, 1);
  EXPECT_EQ(s.message, "echo-client: tcp localhost port 9001: connection refused\n");

  const auto e = exit_status_of(thrown(std::system_error(std::make_error_code(std::errc::broken_pipe), "writing")),
                                failure_stage::running);
  EXPECT_EQ(e.code, 1);
  EXPECT_EQ(e.message.rfind("echo-client: writing: ", 0), 0u) << e.message;
}

TEST(ExitCodes, NotAnExceptionOrNothingIsStillAFailure) {
  EXPECT_EQ(exit_status_of(thrown(42), failure_stage::running).code, 1);
  EXPECT_EQ(exit_status_of(thrown(42), failure_stage::parsing).message, "echo-client: unknown error\n");
  EXPECT_EQ(exit_status_of(nullptr, failure_stage::running).code, 1);
}

} // namespace
