#pragma once

// Reading option values with range checks, for the two files that own
// Program_options (server_config.cpp, client_config.cpp). Every failure is a
// usage_error naming the option and the value.

#include "echo/common/usage_error.hpp"

#include <boost/program_options/variables_map.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace echo::options {

template <class T>
T integer(const boost::program_options::variables_map& vm, const std::string& name, std::int64_t low,
          std::int64_t high) {
  const auto value = vm[name].as<std::int64_t>();
  if (value < low || value > high)
    throw usage_error("invalid value for --" + name + ": '" + std::to_string(value) + "' (expected " +
                      std::to_string(low) + " to " + std::to_string(high) + ")");
  return static_cast<T>(value);
}

inline double real(const boost::program_options::variables_map& vm, const std::string& name, double low, double high,
                   const char* unit = nullptr) {
  const auto value = vm[name].as<double>();
  if (!std::isfinite(value) || value < low || value > high) {
    std::ostringstream text;
    text << "invalid value for --" << name << ": '" << value << "' (expected ";
    if (unit) text << unit << ", ";
    text << low << " to " << high << ")";
    throw usage_error(text.str());
  }
  return value;
}

// Seconds, fractions allowed; at most a day, which is beyond any sensible
// setting and keeps the arithmetic safe.
inline std::chrono::milliseconds seconds(const boost::program_options::variables_map& vm, const std::string& name,
                                         double low) {
  const auto value = real(vm, name, low, 86400, "seconds");
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(value * 1000)));
}

// A string option turned into a value by `parse`, which throws
// std::invalid_argument saying what is wrong.
template <class Parse>
auto parsed(const boost::program_options::variables_map& vm, const std::string& name, Parse parse) {
  const auto& text = vm[name].as<std::string>();
  try {
    return parse(text);
  } catch (const std::invalid_argument& e) {
    throw usage_error("invalid value for --" + name + ": " + e.what());
  }
}

} // namespace echo::options
