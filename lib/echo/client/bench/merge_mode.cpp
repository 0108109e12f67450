#include "echo/client/bench/merge_mode.hpp"

#include "echo/client/bench/bench_report.hpp"
#include "echo/client/bench/merge_reports.hpp"

#include <iostream>

namespace echo {

boost::asio::awaitable<int> merge_mode(const client_config& config) {
  const auto merged = merge_reports(config.merge);
  std::cout << (config.json ? format_json(merged) : format_text(merged)) << std::flush;
  co_return merged.errors == 0 && merged.mismatches == 0 ? 0 : 1;
}

} // namespace echo
