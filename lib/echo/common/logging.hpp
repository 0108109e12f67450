#pragma once

#include <spdlog/common.h>
#include <spdlog/logger.h>

#include <exception>
#include <memory>
#include <string>
#include <string_view>

namespace echo {

enum class log_format { text, json };

// "trace" ... "off"; throws std::invalid_argument for anything else.
spdlog::level::level_enum parse_log_level(std::string_view name);
log_format parse_log_format(std::string_view name);
std::string_view to_string(log_format format) noexcept;

// Applies the house pattern (text) or one JSON object a line (json).
void apply_log_format(spdlog::logger& logger, log_format format);

// Logs how a coroutine ended when it ended by an exception (at error);
// nothing for a normal end. For co_spawn completion handlers, so that no
// coroutine's failure goes unseen.
void log_failure(spdlog::logger& logger, std::string_view what, const std::exception_ptr& failure);

// Logs an error that ends the process at critical; when the logger's level
// would hide it (--log-level off), writes it to stderr all the same as
// "<logger name>: <message>": a process never exits 1 without a word.
void log_fatal(spdlog::logger& logger, std::string_view message);

// A logger named `name` writing to stderr (colour only on a terminal).
// Loggers are handed to the components that use them, never looked up in the
// global registry, so tests can capture one with an ostream_sink.
std::shared_ptr<spdlog::logger> make_stderr_logger(const std::string& name, spdlog::level::level_enum level,
                                                   log_format format);

} // namespace echo
