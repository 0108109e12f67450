#include "echo/server/metrics/metrics_collector.hpp"

#include "echo/common/version.hpp"

#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace echo {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  return MetricFamily{std::move(name), std::move(help), type, {}};
}

ClientMetric sample(MetricType type, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return m;
}

MetricFamily single(std::string name, std::string help, MetricType type, double value) {
  auto f = family(std::move(name), std::move(help), type);
  f.metric.push_back(sample(type, value));
  return f;
}

MetricFamily session_durations(const duration_histogram& histogram) {
  const auto s = histogram.read();
  auto f = family("echo_tcp_session_duration_seconds", "How long TCP sessions lasted, counted as each ends.",
                  MetricType::Histogram);
  ClientMetric m;
  m.histogram.sample_count = s.count;
  m.histogram.sample_sum = s.sum_seconds;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < duration_histogram::bounds.size(); ++i) {
    cumulative += s.buckets[i];
    m.histogram.bucket.push_back({cumulative, duration_histogram::bounds[i]});
  }
  m.histogram.bucket.push_back({s.count, std::numeric_limits<double>::infinity()});
  f.metric.push_back(std::move(m));
  return f;
}

// /proc/self/stat, fields counted from 1 as proc(5) does; the command name
// (field 2) may hold spaces and parentheses, so parsing starts after its
// last ')'.
std::vector<std::string> proc_self_stat() {
  std::ifstream in("/proc/self/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> fields(3); // [0] unused, [1] pid and [2] comm left empty; 3 onwards below
  const auto close = text.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(text.substr(close + 1));
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

// Seconds since the epoch at which the system booted: now, less the time
// since boot (CLOCK_BOOTTIME, the clock /proc/self/stat's start time counts
// on). Not /proc/stat's btime, which a hardened unit (ProcSubset=pid) hides.
double boot_time_seconds() {
  timespec real{};
  timespec boot{};
  clock_gettime(CLOCK_REALTIME, &real);
  clock_gettime(CLOCK_BOOTTIME, &boot);
  return static_cast<double>(real.tv_sec - boot.tv_sec) + static_cast<double>(real.tv_nsec - boot.tv_nsec) / 1e9;
}

double open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n - 1; // the directory being listed is an fd of its own
}

// Rows of one family are side by side in counter_table, so that each
// family is written once, with all its samples.
consteval bool families_are_contiguous() {
  for (std::size_t i = 0; i < counter_table.size(); ++i)
    for (std::size_t j = i + 2; j < counter_table.size(); ++j)
      if (!counter_table[i].family.empty() && counter_table[j].family == counter_table[i].family &&
          counter_table[j - 1].family != counter_table[i].family)
        return false;
  return true;
}
static_assert(families_are_contiguous(), "counter_table: keep the rows of a family together");

} // namespace

std::vector<MetricFamily> server_collector::Collect() const {
  const auto& s = stats_;
  std::vector<MetricFamily> out;
  auto info = family("echo_build_info", "Always 1; the labels say which build is running.", MetricType::Gauge);
  info.metric.push_back(sample(MetricType::Gauge, 1, {{"version", std::string(version())}}));
  out.push_back(std::move(info));
  out.push_back(single("echo_tcp_connections_active", "TCP echo sessions open now.", MetricType::Gauge,
                       static_cast<double>(s.sessions_open())));
  out.push_back(session_durations(s.session_durations));

  // Every counter of the table, a family per run of rows.
  for (std::size_t i = 0; i < counter_table.size(); ++i) {
    const auto& row = counter_table[i];
    if (row.family.empty()) continue;
    if (i == 0 || counter_table[i - 1].family != row.family)
      out.push_back(family(std::string(row.family), std::string(row.help), MetricType::Counter));
    std::vector<ClientMetric::Label> labels;
    if (!row.reason.empty()) labels.push_back({"reason", std::string(row.reason)});
    out.back().metric.push_back(sample(MetricType::Counter, static_cast<double>(s.at(i)), std::move(labels)));
  }
  return out;
}

std::vector<MetricFamily> process_collector::Collect() const {
  std::vector<MetricFamily> out;
  const auto stat = proc_self_stat();
  const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const auto field = [&stat](std::size_t i) { return i < stat.size() ? std::stod(stat[i]) : 0.0; };
  // proc(5): 14 utime, 15 stime, 22 starttime (clock ticks), 23 vsize (bytes), 24 rss (pages).
  out.push_back(single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                       MetricType::Counter, (field(14) + field(15)) / ticks));
  out.push_back(
      single("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge, field(24) * page));
  out.push_back(single("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge, field(23)));
  out.push_back(single("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, open_fds()));
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  out.push_back(single("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
                       static_cast<double>(limit.rlim_cur)));
  out.push_back(single("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                       MetricType::Gauge, boot_time_seconds() + field(22) / ticks));
  return out;
}

std::string render_metrics(const std::vector<const prometheus::Collectable*>& collectables) {
  std::vector<MetricFamily> families;
  for (const auto* c : collectables) {
    auto more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

} // namespace echo
