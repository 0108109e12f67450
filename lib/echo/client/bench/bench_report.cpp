#include "echo/client/bench/bench_report.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace echo {
namespace {

// The line of a merged report that says how many generators it pooled and
// whether they ran at once: req/s over the longest run is their combined
// rate only if they did.
std::string generators_text(const bench_report& r) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  out << r.generators << ", ";
  if (!r.window) {
    out << "times unknown (a report without \"started\" and \"ended\", from an older echo-client)";
    return out.str();
  }
  const auto seconds = [](const time_window& w) { return std::chrono::duration<double>(w.to - w.from).count(); };
  if (r.together)
    out << "all running at once for " << seconds(*r.together) << " s";
  else
    out << "NOT all running at once: req/s adds up requests made at different times";
  out << " (" << seconds(*r.window) << " s from " << wall_time_text(r.window->from) << " to "
      << wall_time_text(r.window->to) << ")";
  return out.str();
}

std::string json_time(const std::optional<time_window>& w, bool from) {
  return w ? '"' + wall_time_text(from ? w->from : w->to) + '"' : "null";
}

} // namespace

std::string latency_text(std::uint64_t ns) {
  std::ostringstream out;
  out.precision(ns >= 10'000'000 ? 0 : 1);
  if (ns >= 1'000'000)
    out << std::fixed << static_cast<double>(ns) / 1e6 << "ms";
  else
    out << std::fixed << static_cast<double>(ns) / 1e3 << "us";
  return out.str();
}

namespace {

// "p50 150.0us  p90 ...  max 2.1ms"
std::string percentiles_text(const latency_histogram& h) {
  return "p50 " + latency_text(h.quantile(0.5)) + "  p90 " + latency_text(h.quantile(0.9)) + "  p99 " +
         latency_text(h.quantile(0.99)) + "  p99.9 " + latency_text(h.quantile(0.999)) + "  max " +
         latency_text(h.max());
}

// {"p50":150.000,...,"max":2100.000}, in microseconds.
void percentiles_json(std::ostream& out, const latency_histogram& h) {
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  out << R"({"p50":)" << us(h.quantile(0.5)) << R"(,"p90":)" << us(h.quantile(0.9)) << R"(,"p99":)"
      << us(h.quantile(0.99)) << R"(,"p99_9":)" << us(h.quantile(0.999)) << R"(,"max":)" << us(h.max()) << '}';
}

// How latency was measured, after the counts: closed or open loop, and
// with --rate the service time and how well the schedule was kept.
void load_model_text(std::ostream& out, const bench_report& r) {
  using model = bench_report::load_model;
  if (r.model == model::closed_loop) {
    out << "closed loop no --rate: latency above is service time, from each actual send (a connection waits for "
           "answers to send more), not corrected for coordinated omission\n";
  } else if (r.model == model::open_loop) {
    out << "open loop   --rate " << r.rate
        << "/s: latency above runs from when each message was due on the schedule (corrected for coordinated "
           "omission)\n"
        << "uncorrected " << percentiles_text(r.uncorrected) << "  (from the actual send: service time)\n"
        << "late        " << r.late << "  (sent more than 1 ms after due)\n"
        << "skipped     " << r.skipped << "  (due but never sent, the connection being behind; " << r.skipped_recorded
        << " of them in latency above, from when they were due)\n";
  }
}

} // namespace

std::string format_text(const bench_report& r) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  const char* kind = r.protocol == transport::udp ? "udp" : r.tls ? "tcp over tls" : "tcp";
  out << kind << ", " << r.connections
      << (r.churn ? " worker(s) each connecting anew for every message" : " connection(s)") << ", " << r.size
      << " bytes, pipeline " << r.pipeline << ", " << r.seconds << " s\n"
      << "requests    " << r.requests << '\n'
      << "req/s       " << r.requests_per_second() << '\n'
      << "MB/s        " << r.megabytes_per_second() << '\n'
      << "latency     p50 " << latency_text(r.latency.quantile(0.5)) << "  p90 "
      << latency_text(r.latency.quantile(0.9)) << "  p99 " << latency_text(r.latency.quantile(0.99)) << "  p99.9 "
      << latency_text(r.latency.quantile(0.999)) << "  max " << latency_text(r.latency.max()) << '\n'
      << "echoed on   " << r.connections_echoed << " of " << r.connections << " connection(s)\n"
      << "errors      " << r.errors << '\n'
      << "mismatches  " << r.mismatches << '\n';
  if (r.protocol == transport::udp) out << "lost        " << r.lost << '\n';
  load_model_text(out, r);
  if (r.protocol == transport::tcp && r.setup_seconds > 0 && !r.churn) {
    out.precision(3);
    out << "setup       " << r.connections << " connection(s) opened one after another in " << r.setup_seconds << " s ("
        << static_cast<double>(r.connections) / r.setup_seconds << "/s" << (r.tls ? ", handshakes included" : "")
        << ")\n";
  }
  if (r.generators > 1) out << "generators  " << generators_text(r) << '\n';
  return out.str();
}

std::string format_json(const bench_report& r) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(3);
  const auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  out << R"({"protocol":")" << (r.protocol == transport::tcp ? "tcp" : "udp") << R"(","connections":)" << r.connections
      << R"(,"size":)" << r.size << R"(,"pipeline":)" << r.pipeline << R"(,"seconds":)" << r.seconds
      << R"(,"requests":)" << r.requests << R"(,"req_per_s":)" << r.requests_per_second() << R"(,"mb_per_s":)"
      << r.megabytes_per_second() << R"(,"latency_us":{"p50":)" << us(r.latency.quantile(0.5)) << R"(,"p90":)"
      << us(r.latency.quantile(0.9)) << R"(,"p99":)" << us(r.latency.quantile(0.99)) << R"(,"p99_9":)"
      << us(r.latency.quantile(0.999)) << R"(,"max":)" << us(r.latency.max()) << R"(},"errors":)" << r.errors
      << R"(,"mismatches":)" << r.mismatches << R"(,"lost":)" << r.lost << R"(,"connections_echoed":)"
      << r.connections_echoed << R"(,"bytes":)" << r.bytes << R"(,"tls":)" << (r.tls ? "true" : "false")
      << R"(,"churn":)" << (r.churn ? "true" : "false") << R"(,"setup_seconds":)" << r.setup_seconds;
  out << R"(,"generators":)" << r.generators << R"(,"started":)" << json_time(r.window, true) << R"(,"ended":)"
      << json_time(r.window, false) << R"(,"overlap":)";
  if (r.window && r.together)
    out << R"({"from":)" << json_time(r.together, true) << R"(,"to":)" << json_time(r.together, false) << '}';
  else
    out << "null";
  out << R"(,"runs":[)";
  for (std::size_t i = 0; i < r.runs.size(); ++i) out << (i ? "," : "") << '"' << r.runs[i] << '"';
  out << R"(],"histogram":{"unit":"ns","sub_buckets":)" << latency_histogram::sub_buckets << R"(,"min":)"
      << r.latency.min() << R"(,"max":)" << r.latency.max() << R"(,"buckets":[)";
  // Every non-empty bucket as [index, count]: enough to merge reports exactly.
  bool first = true;
  r.latency.for_each_bucket([&](std::size_t index, std::uint64_t count) {
    out << (first ? "" : ",") << '[' << index << ',' << count << ']';
    first = false;
  });
  out << "]}";
  // How latency was measured; with --rate, how the schedule was kept and
  // the uncorrected (service time) histogram beside the corrected one above,
  // in the same form. A report that does not say has none of it.
  using model = bench_report::load_model;
  out << R"(,"load_model":)"
      << (r.model == model::open_loop     ? R"("open_loop")"
          : r.model == model::closed_loop ? R"("closed_loop")"
                                          : "null");
  if (r.model == model::open_loop) {
    out << R"(,"rate":)" << r.rate << R"(,"late":)" << r.late << R"(,"skipped":)" << r.skipped
        << R"(,"skipped_recorded":)" << r.skipped_recorded << R"(,"uncorrected_latency_us":)";
    percentiles_json(out, r.uncorrected);
    out << R"(,"uncorrected_histogram":{"unit":"ns","sub_buckets":)" << latency_histogram::sub_buckets << R"(,"min":)"
        << r.uncorrected.min() << R"(,"max":)" << r.uncorrected.max() << R"(,"buckets":[)";
    first = true;
    r.uncorrected.for_each_bucket([&](std::size_t index, std::uint64_t count) {
      out << (first ? "" : ",") << '[' << index << ',' << count << ']';
      first = false;
    });
    out << "]}";
  }
  out << "}\n";
  return out.str();
}

std::string wall_time_text(wall_time when) {
  using namespace std::chrono;
  const auto day = floor<days>(when);
  const year_month_day date{day};
  const hh_mm_ss time{when - day};
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                static_cast<int>(time.seconds().count()), static_cast<int>(time.subseconds().count()));
  return text;
}

std::optional<wall_time> parse_wall_time(std::string_view text) {
  using namespace std::chrono;
  constexpr std::string_view form = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != form.size()) return std::nullopt;
  for (std::size_t i = 0; i < form.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (form[i] == 'd' ? !digit : text[i] != form[i]) return std::nullopt;
  }
  const auto number = [&](std::size_t at, std::size_t digits) {
    int value = 0;
    for (std::size_t i = at; i < at + digits; ++i) value = value * 10 + (text[i] - '0');
    return value;
  };
  const year_month_day date{year(number(0, 4)), month(static_cast<unsigned>(number(5, 2))),
                            day(static_cast<unsigned>(number(8, 2)))};
  const int hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!date.ok() || date.year() < year(1970) || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  return wall_time(sys_days(date)) + hours(hour) + minutes(minute) + seconds(second) + milliseconds(number(20, 3));
}

void stamp_wall_clock(bench_report& report, std::chrono::steady_clock::time_point start) {
  using namespace std::chrono;
  // The steady clock timed the run; the wall clock says when that was.
  const auto ago = duration_cast<system_clock::duration>(steady_clock::now() - start);
  const auto started = floor<milliseconds>(system_clock::now() - ago);
  const auto lasted = milliseconds(std::llround(report.seconds * 1000));
  report.generators = 1;
  report.window = time_window{started, started + lasted};
  report.together = report.window;
  std::random_device random;
  const auto id = (std::uint64_t{random()} << 32) | random();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(id));
  report.runs = {text};
}

void write_report_file(const std::string& path, std::string_view content) {
  const auto fail = [&](const std::string& why) {
    throw std::runtime_error("cannot write the report to " + path + ": " + why);
  };
  const auto error_text = [] { return std::generic_category().message(errno); };
  const auto slash = path.rfind('/');
  const std::string directory = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty()) fail("not a file name");
  // A hidden file beside the target, so that the rename stays in one file
  // system and a reader of `path` never sees a report half written.
  std::string temporary = directory + "/." + name + ".XXXXXX";
  const int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
  if (fd < 0) fail(error_text() + " (creating a file in " + directory + ")");
  bool renamed = false;
  struct cleanup {
    int fd;
    const std::string& temporary;
    const bool& renamed;
    ~cleanup() {
      if (fd >= 0) ::close(fd);
      if (!renamed) ::unlink(temporary.c_str());
    }
  } guard{fd, temporary, renamed};
  for (std::size_t written = 0; written < content.size();) {
    const auto n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(error_text());
    written += static_cast<std::size_t>(n);
  }
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0) fail(error_text());
  if (::fsync(fd) != 0) fail(error_text());
  guard.fd = -1;
  if (::close(fd) != 0) fail(error_text());
  if (::rename(temporary.c_str(), path.c_str()) != 0) fail(error_text());
  renamed = true;
  // The rename itself on disk; a file system that cannot sync a directory
  // (EINVAL) still renamed it.
  if (const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

} // namespace echo
