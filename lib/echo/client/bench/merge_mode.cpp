#include "echo/client/bench/merge_mode.hpp"

#include "echo/client/bench/bench_report.hpp"
#include "echo/client/bench/merge_reports.hpp"

#include <iostream>

namespace echo {

boost::asio::awaitable<int> merge_mode(const client_config& config) {
  const auto merged = merge_reports(config.merge);
  std::cout << (config.json ? format_json(merged) : format_text(merged)) << std::flush;
  if (merged.window && !merged.together)
    std::cerr << "echo-client: warning: the " << merged.generators
              << " generators did not all run at once: req/s adds up requests made at different times\n";
  if (!config.json_out.empty()) write_report_file(config.json_out, format_json(merged));
  co_return merged.errors == 0 && merged.mismatches == 0 ? 0 : 1;
}

} // namespace echo
