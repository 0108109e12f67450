#pragma once

#include <chrono>
#include <sstream>
#include <string>

namespace echo {

// "5s", "0.5s", "300s": a duration as people write it, for logs and messages.
inline std::string seconds_text(std::chrono::milliseconds ms) {
  std::ostringstream out;
  out << static_cast<double>(ms.count()) / 1000.0 << 's';
  return out.str();
}

} // namespace echo
