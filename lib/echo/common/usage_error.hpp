#pragma once

#include <stdexcept>

namespace echo {

// A problem with what the user asked for (option, value, config file):
// reported on stderr with exit code 2, never a stack of internals.
class usage_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace echo
