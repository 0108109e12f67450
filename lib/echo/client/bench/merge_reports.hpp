#pragma once

#include "echo/client/bench/bench_report.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace echo {

// A report file larger than this is refused unread. A report is a few
// hundred bytes plus its histogram: at most 1920 buckets of about 30 bytes,
// under 60 KiB; the bound leaves room for reports that grow and keeps what
// parsing one takes to about 20 MiB (1 MiB of tiny arrays, measured).
inline constexpr std::size_t max_report_bytes = 1 << 20;

// The text of a report file. Refuses, without blocking, anything but a
// regular file (a directory, a FIFO, a device, a symlink to one), an empty
// file and one over max_report_bytes. Throws usage_error naming the file.
std::string read_report_file(const std::string& path);

// One `--bench --json` report, checked: every field there with its type,
// counts that are integers in range, a histogram of our layout whose counts
// add up to the requests, with min and max in its first and last buckets,
// and the percentiles, rates and times it states agreeing with it. Throws
// usage_error naming `name` and what is wrong.
bench_report parse_report(std::string_view text, const std::string& name);

struct named_report {
  std::string name;
  bench_report report;
};

// Combines reports exactly: counts summed (refused if a sum overflows),
// histograms merged bucket by bucket, the duration the longest, the
// generators counted and their time windows joined. Reports of different
// runs (protocol, TLS, churn, size or pipeline differ) and a report given
// twice are refused: usage_error naming the file.
bench_report combine_reports(const std::vector<named_report>& reports);

// read_report_file(), parse_report() and combine_reports() for --merge.
bench_report merge_reports(const std::vector<std::string>& files);

} // namespace echo
