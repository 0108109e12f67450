#include "echo/common/version.hpp"

#include <boost/version.hpp>
#include <spdlog/version.h>

#include <sstream>

namespace echo {

std::string_view version() { return ECHO_VERSION; }

std::string version_text(std::string_view program) {
  std::ostringstream out;
  out << program << ' ' << ECHO_VERSION << " (Boost " << BOOST_VERSION / 100000 << '.' << BOOST_VERSION / 100 % 1000
      << ", spdlog " << SPDLOG_VER_MAJOR << '.' << SPDLOG_VER_MINOR << ")\n";
  return out.str();
}

} // namespace echo
