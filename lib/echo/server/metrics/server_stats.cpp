#include "echo/server/metrics/server_stats.hpp"

namespace echo {

std::string describe(const server_stats& stats) {
  std::string out = "sessions_open=" + std::to_string(stats.sessions_open());
  for (std::size_t i = 0; i < counter_table.size(); ++i) {
    if (!counter_table[i].in_stats_line) continue;
    out += ' ';
    out += counter_table[i].name;
    out += '=';
    out += std::to_string(stats.at(i));
  }
  return out;
}

std::string describe_reasons(const server_stats& stats, std::string_view family) {
  std::string out;
  for (std::size_t i = 0; i < counter_table.size(); ++i) {
    if (counter_table[i].family != family) continue;
    if (!out.empty()) out += ' ';
    out += counter_table[i].reason;
    out += '=';
    out += std::to_string(stats.at(i));
  }
  return out;
}

} // namespace echo
