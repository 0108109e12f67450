#pragma once

#include <string>
#include <string_view>

namespace echo {

// "0.1.0": the project's version.
std::string_view version();

// "echo-server 0.1.0 (Boost 1.81, spdlog 1.10, built with GCC 12.2)"
std::string version_text(std::string_view program);

} // namespace echo
