#pragma once

#include "echo/client/bench/bench_report.hpp"

#include <string>
#include <vector>

namespace echo {

// Reads `--bench --json` reports (one JSON object per file) and combines
// them exactly: counts summed, the latency histograms merged bucket by
// bucket, so the percentiles are those of all the samples together; the
// duration is the longest. Reports of different runs (protocol, size or
// pipeline differ) cannot be merged. Throws usage_error naming the file and
// what is wrong.
bench_report merge_reports(const std::vector<std::string>& files);

} // namespace echo
