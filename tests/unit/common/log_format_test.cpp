#include "echo/common/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <cstdlib>
#include <ctime>
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

std::string text_line(spdlog::level::level_enum level) {
  std::ostringstream out;
  spdlog::logger logger("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  echo::apply_log_format(logger, echo::log_format::text);
  logger.log(level, "m");
  logger.flush();
  return out.str();
}

TEST(LogFormat, TextLevelsAreSpelledAsTheOptionSpellsThem) {
  EXPECT_NE(text_line(spdlog::level::warn).find(" warn  test: m"), std::string::npos) << text_line(spdlog::level::warn);
  EXPECT_EQ(text_line(spdlog::level::warn).find("warning"), std::string::npos);
  EXPECT_NE(text_line(spdlog::level::critical).find(" critical test: m"), std::string::npos);
}

TEST(LogFormat, TextTimestampsAreUtcMarkedZ) {
  // A zone nine hours from UTC (a POSIX TZ string: no zoneinfo files needed),
  // so local time and UTC cannot agree by accident.
  const char* saved = std::getenv("TZ");
  const std::string previous = saved ? saved : "";
  ::setenv("TZ", "JST-9", 1);
  ::tzset();
  const auto line = text_line(spdlog::level::info);
  if (saved)
    ::setenv("TZ", previous.c_str(), 1);
  else
    ::unsetenv("TZ");
  ::tzset();
  // 2026-11-25T21:58:06.281Z
  ASSERT_GE(line.size(), 24u) << line;
  EXPECT_EQ(line[10], 'T') << line;
  EXPECT_EQ(line[23], 'Z') << line;
  const auto now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char hour[3];
  std::strftime(hour, sizeof hour, "%H", &utc);
  // The hour is UTC's (allowing for the minute the test may straddle).
  const auto logged_hour = std::stoi(line.substr(11, 2));
  EXPECT_TRUE(logged_hour == std::stoi(hour) || (logged_hour + 1) % 24 == std::stoi(hour)) << line;
}

TEST(LogFormat, ParsesNames) {
  EXPECT_EQ(echo::parse_log_level("trace"), spdlog::level::trace);
  EXPECT_EQ(echo::parse_log_level("off"), spdlog::level::off);
  EXPECT_THROW(echo::parse_log_level("warning"), std::invalid_argument);
  EXPECT_EQ(echo::parse_log_format("json"), echo::log_format::json);
  EXPECT_THROW(echo::parse_log_format("yaml"), std::invalid_argument);
}

} // namespace
