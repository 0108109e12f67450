#include "echo/common/logging.hpp"

#include <spdlog/details/log_msg.h>
#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <array>
#include <chrono>
#include <ctime>
#include <iostream>
#include <stdexcept>

namespace echo {
namespace {

constexpr std::array level_names{"trace", "debug", "info", "warn", "error", "critical", "off"};

void append(spdlog::memory_buf_t& dest, std::string_view text) { dest.append(text.data(), text.data() + text.size()); }

void append_json_string(spdlog::memory_buf_t& dest, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  dest.push_back('"');
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
    case '"':
      append(dest, "\\\"");
      break;
    case '\\':
      append(dest, "\\\\");
      break;
    case '\n':
      append(dest, "\\n");
      break;
    case '\r':
      append(dest, "\\r");
      break;
    case '\t':
      append(dest, "\\t");
      break;
    default:
      if (byte < 0x20) {
        const std::array<char, 6> escaped{'\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0xf]};
        dest.append(escaped.data(), escaped.data() + escaped.size());
      } else {
        dest.push_back(c);
      }
    }
  }
  dest.push_back('"');
}

// One JSON object a line: {"time":"…Z","level":"info","logger":"…","msg":"…"}.
class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    const auto since_epoch = msg.time.time_since_epoch();
    const auto seconds = duration_cast<std::chrono::seconds>(since_epoch);
    const auto millis = duration_cast<milliseconds>(since_epoch - seconds).count();
    const std::time_t t = seconds.count();
    std::tm utc{};
    gmtime_r(&t, &utc);
    std::array<char, 40> stamp{};
    const auto len = std::strftime(stamp.data(), stamp.size(), "%Y-%m-%dT%H:%M:%S", &utc);

    append(dest, R"({"time":")");
    append(dest, std::string_view(stamp.data(), len));
    const std::array<char, 5> frac{'.', static_cast<char>('0' + millis / 100),
                                   static_cast<char>('0' + millis / 10 % 10), static_cast<char>('0' + millis % 10),
                                   'Z'};
    dest.append(frac.data(), frac.data() + frac.size());
    append(dest, R"(","level":)");
    append_json_string(dest, level_names.at(static_cast<std::size_t>(msg.level)));
    append(dest, R"(,"logger":)");
    append_json_string(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    append(dest, R"(,"msg":)");
    append_json_string(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    append(dest, "}\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<json_formatter>(); }
};

// The level as --log-level spells it ("warn", where spdlog's %l says
// "warning"), so text and JSON logs and the option agree.
class level_name_flag final : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string_view name = level_names.at(static_cast<std::size_t>(msg.level));
    // Left-aligned in five columns, so messages line up.
    append(dest, name);
    for (auto pad = name.size(); pad < 5; ++pad) dest.push_back(' ');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<level_name_flag>(); }
};

// "2026-11-25T21:58:06.281Z info  echo-server: message": UTC, marked Z, as
// in the JSON format.
std::unique_ptr<spdlog::formatter> text_formatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<level_name_flag>('L').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%L%$ %n: %v");
  return formatter;
}

} // namespace

spdlog::level::level_enum parse_log_level(std::string_view name) {
  for (std::size_t i = 0; i < level_names.size(); ++i)
    if (name == level_names.at(i)) return static_cast<spdlog::level::level_enum>(i);
  throw std::invalid_argument("'" + std::string(name) +
                              "' is not a log level (trace, debug, info, warn, error, critical, off)");
}

log_format parse_log_format(std::string_view name) {
  if (name == "text") return log_format::text;
  if (name == "json") return log_format::json;
  throw std::invalid_argument("'" + std::string(name) + "' is not a log format (text, json)");
}

std::string_view to_string(log_format format) noexcept { return format == log_format::json ? "json" : "text"; }

void apply_log_format(spdlog::logger& logger, log_format format) {
  if (format == log_format::json)
    logger.set_formatter(std::make_unique<json_formatter>());
  else
    logger.set_formatter(text_formatter());
}

void log_failure(spdlog::logger& logger, std::string_view what, const std::exception_ptr& failure) {
  if (!failure) return;
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    logger.error("{} ended by exception: {}", what, e.what());
  } catch (...) {
    logger.error("{} ended by an unknown exception", what);
  }
}

void log_fatal(spdlog::logger& logger, std::string_view message) {
  if (logger.should_log(spdlog::level::critical)) {
    logger.critical("{}", message);
    logger.flush();
  } else {
    std::cerr << logger.name() << ": " << message << std::endl;
  }
}

std::shared_ptr<spdlog::logger> make_stderr_logger(const std::string& name, spdlog::level::level_enum level,
                                                   log_format format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic);
  auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
  logger->set_level(level);
  apply_log_format(*logger, format);
  // Warnings and errors reach the terminal or journal at once.
  logger->flush_on(spdlog::level::warn);
  return logger;
}

} // namespace echo
