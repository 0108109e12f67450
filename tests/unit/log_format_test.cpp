#include "echo/common/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

namespace {

std::string log_one(echo::log_format format, const std::string& message) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("test", sink);
  echo::apply_log_format(logger, format);
  logger.info("{}", message);
  logger.flush();
  return out.str();
}

TEST(LogFormat, JsonIsOneEscapedObjectPerLine) {
  const auto line = log_one(echo::log_format::json, "say \"hi\"\\\n\x01");
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_NE(line.find(R"("level":"info")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("logger":"test")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("msg":"say \"hi\"\\\n\u0001")"), std::string::npos) << line;
  EXPECT_EQ(line.rfind(R"({"time":")", 0), 0u) << line;
}

TEST(LogFormat, TextHasLevelLoggerAndMessage) {
  const auto line = log_one(echo::log_format::text, "hello");
  EXPECT_NE(line.find("info"), std::string::npos) << line;
  EXPECT_NE(line.find("test: hello"), std::string::npos) << line;
}

TEST(LogFormat, ParsesNames) {
  EXPECT_EQ(echo::parse_log_level("trace"), spdlog::level::trace);
  EXPECT_EQ(echo::parse_log_level("off"), spdlog::level::off);
  EXPECT_THROW(echo::parse_log_level("warning"), std::invalid_argument);
  EXPECT_EQ(echo::parse_log_format("json"), echo::log_format::json);
  EXPECT_THROW(echo::parse_log_format("yaml"), std::invalid_argument);
}

} // namespace
