#pragma once

// Reading option values with range checks, for the two files that own
// Program_options (server_config.cpp, client_config.cpp). Every failure is a
// usage_error naming the option and the value.

#include "echo/common/duration_text.hpp"
#include "echo/common/usage_error.hpp"

#include <boost/program_options/variables_map.hpp>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

namespace echo::options {

// Where each option's value came from, as an error should name it:
// "--port", "ECHO_SERVER_PORT", "echo-server.conf:3 port". An option not
// in the map came from the command line or its default: "--name".
using origins = std::map<std::string, std::string, std::less<>>;

inline std::string origin(const origins* known, const std::string& name) {
  if (known) {
    if (const auto found = known->find(name); found != known->end()) return found->second;
  }
  return "--" + name;
}

template <class T>
T integer(const boost::program_options::variables_map& vm, const std::string& name, std::int64_t low, std::int64_t high,
          const origins* known = nullptr) {
  const auto value = vm[name].as<std::int64_t>();
  if (value < low || value > high)
    throw usage_error("invalid value for " + origin(known, name) + ": '" + std::to_string(value) + "' (expected " +
                      std::to_string(low) + " to " + std::to_string(high) + ")");
  return static_cast<T>(value);
}

inline double real(const boost::program_options::variables_map& vm, const std::string& name, double low, double high,
                   const char* unit = nullptr, const origins* known = nullptr) {
  const auto value = vm[name].as<double>();
  if (!std::isfinite(value) || value < low || value > high) {
    std::ostringstream text;
    text << "invalid value for " << origin(known, name) << ": '" << value << "' (expected ";
    if (unit) text << unit << ", ";
    text << low << " to " << high << ")";
    throw usage_error(text.str());
  }
  return value;
}

// Seconds, fractions allowed; at most a day, which is beyond any sensible
// setting and keeps the arithmetic safe.
inline std::chrono::milliseconds seconds(const boost::program_options::variables_map& vm, const std::string& name,
                                         double low, const origins* known = nullptr) {
  const auto value = real(vm, name, low, 86400, "seconds", known);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(value * 1000)));
}

// Like seconds(), for a setting where 0 means "off": any other value must
// be at least `shortest` (a value that rounds to zero would silently mean
// "off", and a tiny one would flood the log or the CPU).
inline std::chrono::milliseconds seconds_or_off(const boost::program_options::variables_map& vm,
                                                const std::string& name, std::chrono::milliseconds shortest,
                                                const origins* known = nullptr) {
  const auto value = real(vm, name, 0, 86400, "seconds", known);
  const auto ms = std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(value * 1000)));
  if (value != 0 && ms < shortest) {
    std::ostringstream text;
    text << "invalid value for " << origin(known, name) << ": '" << value << "' (expected 0 for off, or at least "
         << seconds_text(shortest) << ")";
    throw usage_error(text.str());
  }
  return ms;
}

// A string option turned into a value by `parse`, which throws
// std::invalid_argument saying what is wrong.
template <class Parse>
auto parsed(const boost::program_options::variables_map& vm, const std::string& name, Parse parse,
            const origins* known = nullptr) {
  const auto& text = vm[name].as<std::string>();
  try {
    return parse(text);
  } catch (const std::invalid_argument& e) {
    throw usage_error("invalid value for " + origin(known, name) + ": " + e.what());
  }
}

// A file option's value: a regular file we can read (its contents are
// the caller's to check).
inline std::string readable_file(const boost::program_options::variables_map& vm, const std::string& name,
                                 const origins* known = nullptr) {
  const auto path = vm[name].as<std::string>();
  const auto bad = [&](const std::string& why) {
    return usage_error("invalid value for " + origin(known, name) + ": '" + path + "' (" + why + ")");
  };
  struct stat info {};
  if (path.empty()) throw bad("expected a file");
  if (::stat(path.c_str(), &info) != 0) throw bad(std::string("cannot read it: ") + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) throw bad("not a regular file");
  if (std::ifstream file(path); !file) throw bad(std::string("cannot read it: ") + std::strerror(errno));
  return path;
}

} // namespace echo::options
