#include "echo/client/bench/merge_reports.hpp"

#include "echo/common/usage_error.hpp"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

namespace echo {
namespace {

namespace json = boost::json;

constexpr auto no_limit = std::numeric_limits<std::uint64_t>::max();

// A report's deepest value is a bucket: report, histogram, buckets, bucket.
// The bound leaves room for a newer report and stops a file of nested
// brackets early.
json::parse_options report_parse_options() {
  json::parse_options options;
  options.max_depth = 16;
  return options;
}

[[noreturn]] void refuse(const std::string& name, const std::string& why) {
  throw usage_error("cannot merge " + name + ": " + why);
}

// What a file says, as an error message may quote it: short, and nothing
// a terminal would act on (a hostile file could hold escape sequences).
std::string shown(std::string_view text) {
  constexpr std::size_t longest = 40;
  std::string out;
  for (const char c : text.substr(0, longest)) out += c >= 0x20 && c < 0x7f ? c : '?';
  if (text.size() > longest) out += "...";
  return out;
}
std::string shown(const json::value& value) {
  if (!value.is_double()) return shown(json::serialize(value));
  std::ostringstream out;
  out.precision(15);
  out << value.get_double();
  return out.str();
}

const char* kind_of(const json::value& value) {
  switch (value.kind()) {
  case json::kind::null:
    return "null";
  case json::kind::bool_:
    return "true or false";
  case json::kind::string:
    return "a string";
  case json::kind::array:
    return "an array";
  case json::kind::object:
    return "an object";
  default:
    return "a number";
  }
}

// What json::parse lets pass: a key given twice in one object, where the
// last would silently win. A first pass over the text with this handler
// finds that, and any syntax error with its place.
class duplicate_key_finder {
public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  std::string duplicate; // the first key found twice, if any

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    keys_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    keys_.pop_back();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view part, std::size_t, json::error_code&) {
    key_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, json::error_code& ec) {
    key_.append(part.data(), part.size());
    if (!keys_.back().insert(key_).second) {
      duplicate = key_;
      ec = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
      return false;
    }
    key_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

private:
  std::vector<std::set<std::string>> keys_; // of each object open, outermost first
  std::string key_;
};

// The fields of one JSON object of a report, read with their types checked.
struct report_object {
  const std::string& name; // the file
  const json::object& object;
  std::string where; // "" at the top, "histogram." inside it

  [[noreturn]] void fail(const std::string& why) const { refuse(name, why); }
  std::string quoted(const char* key) const { return '"' + where + key + '"'; }

  const json::value* find(const char* key) const { return object.if_contains(key); }
  const json::value& field(const char* key) const {
    const auto* value = find(key);
    if (!value) fail("no " + quoted(key) + " (not a report of --bench --json?)");
    return *value;
  }

  // A non-negative integer in [low, high], as JSON writes it: no fraction,
  // no exponent, no sign.
  std::uint64_t count_in(const json::value& value, const std::string& what, std::uint64_t low = 0,
                         std::uint64_t high = no_limit) const {
    std::uint64_t n = 0;
    if (const auto* u = value.if_uint64())
      n = *u;
    else if (const auto* i = value.if_int64(); i && *i >= 0)
      n = static_cast<std::uint64_t>(*i);
    else if (i)
      fail(what + " is negative (" + shown(value) + ")");
    else if (value.is_double())
      fail(what + " is not an integer from 0 to 2^64-1 (" + shown(value) + ")");
    else
      fail(what + " is " + kind_of(value) + ", not a count");
    if (n < low || n > high)
      fail(what + " is " + std::to_string(n) + ", not " + std::to_string(low) + " to " + std::to_string(high));
    return n;
  }
  std::uint64_t count(const char* key, std::uint64_t low = 0, std::uint64_t high = no_limit) const {
    return count_in(field(key), quoted(key), low, high);
  }

  // A finite number, not negative.
  double real(const char* key) const {
    const auto& value = field(key);
    if (!value.is_number()) fail(quoted(key) + " is " + kind_of(value) + ", not a number");
    const auto n = value.to_number<double>();
    if (!std::isfinite(n) || n < 0) fail(quoted(key) + " is " + shown(value) + ", not a number of 0 or more");
    return n;
  }

  std::string text(const char* key) const {
    const auto& value = field(key);
    if (!value.is_string()) fail(quoted(key) + " is " + kind_of(value) + ", not a string");
    return std::string(value.get_string());
  }

  // An optional true or false (absent in reports from before it existed).
  bool flag(const char* key) const {
    const auto* value = find(key);
    if (!value) return false;
    if (!value->is_bool()) fail(quoted(key) + " is " + kind_of(*value) + ", not true or false");
    return value->get_bool();
  }

  report_object inner(const char* key) const {
    const auto& value = field(key);
    if (!value.is_object()) fail(quoted(key) + " is " + kind_of(value) + ", not an object");
    return {name, value.get_object(), where + key + "."};
  }

  std::optional<wall_time> time(const char* key) const {
    const auto* value = find(key);
    if (!value || value->is_null()) return std::nullopt;
    const auto* text = value->if_string();
    const auto parsed = text ? parse_wall_time(*text) : std::nullopt;
    if (!parsed) fail(quoted(key) + " is " + shown(*value) + ", not a time as 2024-05-01T12:30:05.250Z");
    return parsed;
  }
};

// Whether a number the report states (rounded to 3 decimals when written)
// is the one its counts give.
bool agrees(double stated, double computed, double rounding) {
  return std::abs(stated - computed) <= rounding + std::abs(computed) * 1e-12;
}

std::string seconds_text(double s) {
  std::ostringstream out;
  out << s;
  return out.str();
}

// The JSON value: syntax, no key twice, an object.
json::value parse_json(std::string_view text, const std::string& name) {
  const auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) refuse(name, "only white space: not a report");
  if (text[start] != '{') {
    const auto line = text.substr(start, text.find('\n', start) - start);
    refuse(name, "not a JSON object: it starts with '" + shown(line) +
                     "' (progress or log lines mixed in? a report is one JSON object)");
  }
  const auto options = report_parse_options();
  json::basic_parser<duplicate_key_finder> checker(options);
  json::error_code ec;
  const auto used = checker.write_some(false, text.data(), text.size(), ec);
  if (!checker.handler().duplicate.empty())
    refuse(name,
           "the key \"" + shown(checker.handler().duplicate) + "\" is given twice in one object (which one counts?)");
  // The parser stops after one value: anything but white space after it
  // is a second value (two reports in one file, a log line).
  if (!ec && text.find_first_not_of(" \t\r\n", used) != std::string_view::npos)
    ec = json::make_error_code(json::error::extra_data);
  if (ec) {
    const auto rest = text.substr(std::min(used, text.size()));
    refuse(name, "not JSON: " + ec.message() + " at byte " + std::to_string(used) +
                     (rest.empty() ? std::string(" (the end)") : " ('" + shown(rest) + "')"));
  }
  auto value = json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  if (ec) refuse(name, "not JSON: " + ec.message());
  return value;
}

// A histogram of `samples` round trips, none longer than the run.
void read_histogram(const report_object& h, latency_histogram& into, std::uint64_t samples, const std::string& of,
                    double seconds) {
  const auto unit = h.text("unit");
  if (unit != "ns") h.fail("its histogram is in '" + shown(unit) + "', not in ns (nanoseconds)");
  // Reports from before "sub_buckets" have this layout.
  if (const auto* layout = h.find("sub_buckets")) {
    const auto n = h.count_in(*layout, h.quoted("sub_buckets"));
    if (n != latency_histogram::sub_buckets)
      h.fail("its histogram has " + std::to_string(n) + " buckets per power of two, this echo-client's " +
             std::to_string(latency_histogram::sub_buckets) + " (another bucket layout)");
  }
  const auto& buckets = h.field("buckets");
  if (!buckets.is_array()) h.fail(h.quoted("buckets") + " is " + kind_of(buckets) + ", not an array");
  std::uint64_t total = 0;
  std::optional<std::size_t> first, last;
  for (const auto& bucket : buckets.get_array()) {
    const auto* pair = bucket.if_array();
    if (!pair || pair->size() != 2) h.fail("a histogram bucket that is not [index, count]: " + shown(bucket));
    const auto index = static_cast<std::size_t>(
        h.count_in((*pair)[0], "a histogram bucket's index", 0, latency_histogram::bucket_count - 1));
    const auto count = h.count_in((*pair)[1], "the count of histogram bucket " + std::to_string(index), 1);
    if (last && index <= *last)
      h.fail("histogram bucket " + std::to_string(index) + " comes after bucket " + std::to_string(*last) +
             " (each bucket once, in order)");
    if (count > no_limit - total) h.fail("its histogram's counts add up to more than 2^64-1");
    total += count;
    if (!first) first = index;
    last = index;
    into.add_bucket(index, count);
  }
  if (total != samples)
    h.fail("its " + h.where.substr(0, h.where.size() - 1) + " holds " + std::to_string(total) + " samples for " +
           std::to_string(samples) + " " + of);
  const auto min = h.count("min");
  const auto max = h.count("max");
  if (total == 0) {
    if (min != 0 || max != 0) h.fail("an empty histogram with a min or max");
    return;
  }
  if (min > max) h.fail("its histogram's min " + std::to_string(min) + " is above its max " + std::to_string(max));
  if (latency_histogram::index_of(min) != *first)
    h.fail("its histogram's min " + std::to_string(min) + " is not in its first bucket");
  if (latency_histogram::index_of(max) != *last)
    h.fail("its histogram's max " + std::to_string(max) + " is not in its last bucket");
  // A round trip starts (or, paced, is due) after the run starts and ends
  // before it ends: none is longer than the run (written to the ms).
  if (static_cast<double>(max) > seconds * 1e9 + 1e6)
    h.fail("its longest round trip, " + latency_text(max) + ", is longer than the run (" + seconds_text(seconds) +
           " s)");
  into.add_extremes(min, max);
}

// The percentiles a report states (in microseconds, to 3 decimals) must be
// those its histogram gives.
void check_percentiles(const report_object& stated, const latency_histogram& h) {
  const std::pair<const char*, double> quantiles[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p99_9", 0.999}};
  for (const auto& [key, q] : quantiles) {
    const auto computed = static_cast<double>(h.quantile(q));
    if (!agrees(stated.real(key) * 1e3, computed, 1))
      stated.fail(stated.quoted(key) + " is " + shown(stated.field(key)) + " but its histogram gives " +
                  seconds_text(computed / 1e3));
  }
  if (!agrees(stated.real("max") * 1e3, static_cast<double>(h.max()), 1))
    stated.fail(stated.quoted("max") + " is not its histogram's max");
}

// What the report states beside its counts must be what the counts give.
void check_derived(const report_object& file, const bench_report& r) {
  check_percentiles(file.inner("latency_us"), r.latency);
  if (r.model == bench_report::load_model::open_loop)
    check_percentiles(file.inner("uncorrected_latency_us"), r.uncorrected);
  // The rates were computed from the duration before it was rounded to
  // the ms it is written with: anything it could have been will do.
  const auto rate = [&](const char* key, double amount, const char* of) {
    if (r.seconds < 0.01) return; // too short to tell
    const double stated = file.real(key);
    const double low = amount / (r.seconds + 0.0005), high = amount / (r.seconds - 0.0005);
    if (stated < low - 0.001 - low * 1e-12 || stated > high + 0.001 + high * 1e-12)
      file.fail(file.quoted(key) + " is " + shown(file.field(key)) + " but its " + of + " and seconds give " +
                seconds_text(amount / r.seconds));
  };
  rate("req_per_s", static_cast<double>(r.requests), "requests");
  rate("mb_per_s", static_cast<double>(r.bytes) / 1e6, "bytes");
}

// How latency was measured, and with --rate how the schedule was kept.
// Reports from before "load_model" do not say.
void read_load_model(const report_object& file, bench_report& r) {
  using model = bench_report::load_model;
  const auto* value = file.find("load_model");
  if (!value || value->is_null()) return;
  const auto* name = value->if_string();
  if (!name || (*name != "open_loop" && *name != "closed_loop"))
    file.fail("its \"load_model\" is " + shown(*value) + ", not \"open_loop\", \"closed_loop\" or null");
  r.model = *name == "open_loop" ? model::open_loop : model::closed_loop;
  if (r.model == model::closed_loop) {
    for (const char* key : {"rate", "late", "skipped", "skipped_recorded", "uncorrected_histogram"})
      if (file.find(key)) file.fail("a closed-loop report (no --rate) with a " + file.quoted(key));
    return;
  }
  r.rate = file.real("rate");
  if (r.rate <= 0) file.fail("an open-loop report with a \"rate\" of 0");
  r.late = file.count("late");
  r.skipped = file.count("skipped");
  r.skipped_recorded = file.count("skipped_recorded", 0, r.skipped);
}

void read_times(const report_object& file, bench_report& r) {
  // Reports from before "started" and "ended" did not say when they ran.
  const auto started = file.time("started");
  const auto ended = file.time("ended");
  const auto* overlap = file.find("overlap");
  if (!started && !ended) {
    if (overlap && !overlap->is_null()) file.fail("an \"overlap\" without \"started\" and \"ended\"");
    return;
  }
  if (!started || !ended) file.fail(std::string("\"") + (started ? "ended" : "started") + "\" is missing");
  if (*ended < *started) file.fail("it ended before it started");
  const time_window window{*started, *ended};
  const double span = std::chrono::duration<double>(window.to - window.from).count();
  // Times are to the ms, "seconds" to 3 decimals: 2 ms apart at most.
  if (r.seconds > span + 0.002 || (r.generators == 1 && r.seconds < span - 0.002))
    file.fail("it ran " + seconds_text(r.seconds) + " s from " + wall_time_text(window.from) + " to " +
              wall_time_text(window.to) + " (" + seconds_text(span) + " s)");
  r.window = window;
  if (!overlap) file.fail("no \"overlap\" (when its generators were all running)");
  if (!overlap->is_null()) {
    if (!overlap->is_object())
      file.fail(std::string("\"overlap\" is ") + kind_of(*overlap) + ", not an object or null");
    const report_object o{file.name, overlap->get_object(), "overlap."};
    const auto from = o.time("from");
    const auto to = o.time("to");
    if (!from || !to) o.fail("\"overlap\" needs \"from\" and \"to\"");
    if (*from < window.from || *to < *from || window.to < *to)
      o.fail("its \"overlap\" is not within its run (from \"started\" to \"ended\")");
    r.together = time_window{*from, *to};
  }
  if (r.generators == 1 && r.together != r.window) file.fail("one generator whose \"overlap\" is not its run");
}

// Run ids: as echo-client writes them (16 hex digits), each once, no more
// than the generators. A report from before run ids has none.
void read_runs(const report_object& file, bench_report& r) {
  const auto* runs = file.find("runs");
  if (!runs) return;
  if (!runs->is_array()) file.fail(std::string("\"runs\" is ") + kind_of(*runs) + ", not an array");
  if (runs->get_array().size() > r.generators)
    file.fail("more \"runs\" (" + std::to_string(runs->get_array().size()) + ") than generators (" +
              std::to_string(r.generators) + ")");
  for (const auto& run : runs->get_array()) {
    const auto* id = run.if_string();
    if (!id || id->size() != 16 ||
        !std::all_of(id->begin(), id->end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
      file.fail("a run id that is not 16 hex digits: " + shown(run));
    r.runs.emplace_back(*id);
  }
  auto sorted = r.runs;
  std::sort(sorted.begin(), sorted.end());
  if (const auto twice = std::adjacent_find(sorted.begin(), sorted.end()); twice != sorted.end())
    file.fail("it holds run " + *twice + " twice");
}

const char* model_name(bench_report::load_model m) {
  using model = bench_report::load_model;
  return m == model::open_loop     ? "open loop (--rate)"
         : m == model::closed_loop ? "closed loop (no --rate)"
                                   : "not stated";
}

// Sums that refuse to wrap around.
template <class T>
void add_to(T& sum, T more, const std::string& name, const char* what) {
  if (more > std::numeric_limits<T>::max() - sum)
    refuse(name, std::string("the ") + what + " of the reports add up to more than " +
                     std::to_string(std::numeric_limits<T>::max()));
  sum += more;
}

} // namespace

std::string read_report_file(const std::string& path) {
  const auto error_text = [] { return std::generic_category().message(errno); };
  const auto not_regular = [&](mode_t mode) {
    const char* kind = S_ISDIR(mode)    ? "a directory"
                       : S_ISFIFO(mode) ? "a FIFO"
                       : S_ISCHR(mode)  ? "a character device"
                       : S_ISBLK(mode)  ? "a block device"
                       : S_ISSOCK(mode) ? "a socket"
                                        : "something else";
    refuse(path, std::string("it is ") + kind + ", not a regular file");
  };
  // Looked at before it is opened, so that no device is opened at all;
  // and again once open (O_NONBLOCK: a FIFO swapped in meanwhile does not
  // block the open), in case it was swapped.
  struct stat seen {};
  if (::stat(path.c_str(), &seen) != 0) refuse(path, "cannot read it: " + error_text());
  if (!S_ISREG(seen.st_mode)) not_regular(seen.st_mode);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) refuse(path, "cannot read it: " + error_text());
  struct descriptor {
    int fd;
    ~descriptor() { ::close(fd); }
  } guard{fd};
  if (::fstat(fd, &seen) != 0) refuse(path, "cannot read it: " + error_text());
  if (!S_ISREG(seen.st_mode)) not_regular(seen.st_mode);
  const auto too_large = [&] {
    refuse(path, "larger than " + std::to_string(max_report_bytes >> 20) +
                     " MiB, the most a report can be (a report is tens of KiB)");
  };
  if (seen.st_size > static_cast<off_t>(max_report_bytes)) too_large();
  // One byte more than the bound is read, so a file that grows meanwhile is
  // still refused rather than cut.
  std::string text(max_report_bytes + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const auto n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) refuse(path, "cannot read it: " + error_text());
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > max_report_bytes) too_large();
  if (got == 0) refuse(path, "it is empty, not a report");
  text.resize(got);
  return text;
}

bench_report parse_report(std::string_view text, const std::string& name) {
  const auto value = parse_json(text, name);
  const report_object file{name, value.get_object(), ""};

  bench_report r;
  const auto protocol = file.text("protocol");
  if (protocol != "tcp" && protocol != "udp") file.fail("its protocol is '" + shown(protocol) + "', not tcp or udp");
  r.protocol = protocol == "tcp" ? transport::tcp : transport::udp;
  // Reports from before --tls and --churn: plain TCP, no churn.
  r.tls = file.flag("tls");
  r.churn = file.flag("churn");
  if (r.tls && r.protocol == transport::udp) file.fail("a UDP report over TLS");
  r.connections = file.count("connections", 1);
  // The bounds of --size and --pipeline.
  const bool udp = r.protocol == transport::udp;
  r.size = file.count("size", udp ? 8 : 1, udp ? 65507 : 16 << 20);
  r.pipeline = file.count("pipeline", 1, 4096);
  r.seconds = file.real("seconds");
  if (const auto* setup = file.find("setup_seconds"); setup && !setup->is_null())
    r.setup_seconds = file.real("setup_seconds");
  r.requests = file.count("requests");
  r.bytes = file.count("bytes");
  r.errors = file.count("errors");
  r.mismatches = file.count("mismatches");
  r.lost = file.count("lost");
  if (!udp && r.lost != 0) file.fail("a TCP report with lost datagrams");
  r.connections_echoed = file.count("connections_echoed", 0, r.connections);
  // Reports of one run, and from before "generators": one generator.
  if (file.find("generators")) r.generators = file.count("generators", 1, r.connections);

  read_load_model(file, r);
  // Open loop, a send skipped while its connection was behind is in the
  // histogram too, from when it was due.
  if (r.requests > no_limit - r.skipped_recorded)
    file.fail("its requests and skipped sends add up to more than 2^64-1");
  read_histogram(file.inner("histogram"), r.latency, r.requests + r.skipped_recorded,
                 r.skipped_recorded ? "requests and skipped sends (one each)" : "requests (one per request)",
                 r.seconds);
  if (r.model == bench_report::load_model::open_loop)
    read_histogram(file.inner("uncorrected_histogram"), r.uncorrected, r.requests, "requests (one per request)",
                   r.seconds);
  check_derived(file, r);
  read_times(file, r);
  read_runs(file, r);
  return r;
}

bench_report combine_reports(const std::vector<named_report>& reports) {
  if (reports.empty()) throw usage_error("--merge needs at least one report file");
  const auto& front = reports.front();
  bench_report merged = front.report;
  // The same report twice (a file named twice, or a copy) would count one
  // run twice. Two runs never give the same report: it holds their times
  // and histograms.
  std::map<std::string, const std::string*> seen{{format_json(front.report), &front.name}};
  // And a run in two reports: a report merged again with a merge that holds it.
  std::map<std::string, const std::string*> runs;
  for (const auto& run : front.report.runs) runs.emplace(run, &front.name);
  for (std::size_t i = 1; i < reports.size(); ++i) {
    const auto& name = reports[i].name; // not a structured binding: the lambda below captures it
    const auto& r = reports[i].report;
    if (const auto [at, added] = seen.try_emplace(format_json(r), &name); !added)
      refuse(name, "it is the same report as " + *at->second + " (one run would count twice)");
    for (const auto& run : r.runs)
      if (const auto [at, added] = runs.try_emplace(run, &name); !added)
        refuse(name, "it holds run " + run + ", which " + *at->second + " holds too (it would count twice)");
    const auto differs = [&](const char* what, const std::string& mine, const std::string& theirs) {
      refuse(name, std::string("its ") + what + " is " + theirs + ", " + front.name + "'s is " + mine +
                       " (only runs with the same settings merge)");
    };
    const auto protocol = [](const bench_report& b) {
      return std::string(b.protocol == transport::tcp ? "tcp" : "udp");
    };
    if (r.protocol != merged.protocol) differs("protocol", protocol(merged), protocol(r));
    if (r.tls != merged.tls) differs("transport", merged.tls ? "TLS" : "plain", r.tls ? "TLS" : "plain");
    if (r.churn != merged.churn) differs("--churn", merged.churn ? "on" : "off", r.churn ? "on" : "off");
    if (r.size != merged.size) differs("--size", std::to_string(merged.size), std::to_string(r.size));
    if (r.pipeline != merged.pipeline)
      differs("--pipeline", std::to_string(merged.pipeline), std::to_string(r.pipeline));
    // Open-loop latency runs from due times, closed-loop from sends: one
    // histogram cannot hold both.
    if (r.model != merged.model) differs("load model", model_name(merged.model), model_name(r.model));

    // Every sum is checked before any is made, so the histograms (whose
    // totals are the requests) cannot wrap either.
    auto sums = merged;
    add_to(sums.connections, r.connections, name, "connections");
    add_to(sums.requests, r.requests, name, "requests");
    add_to(sums.bytes, r.bytes, name, "bytes");
    add_to(sums.errors, r.errors, name, "errors");
    add_to(sums.mismatches, r.mismatches, name, "mismatches");
    add_to(sums.lost, r.lost, name, "lost datagrams");
    add_to(sums.connections_echoed, r.connections_echoed, name, "connections echoed");
    add_to(sums.generators, r.generators, name, "generators");
    add_to(sums.late, r.late, name, "late sends");
    add_to(sums.skipped, r.skipped, name, "skipped sends");
    add_to(sums.skipped_recorded, r.skipped_recorded, name, "skipped sends in the histograms");
    if (sums.requests > no_limit - sums.skipped_recorded)
      refuse(name, "the requests and skipped sends of the reports add up to more than 2^64-1");
    sums.rate = merged.rate + r.rate; // the generators' schedules together
    sums.uncorrected.merge(r.uncorrected);
    sums.runs.insert(sums.runs.end(), r.runs.begin(), r.runs.end());
    sums.latency.merge(r.latency);
    sums.seconds = std::max(merged.seconds, r.seconds);
    sums.setup_seconds = 0; // connections of several generators were not opened one after another
    if (merged.window && r.window) {
      sums.window =
          time_window{std::min(merged.window->from, r.window->from), std::max(merged.window->to, r.window->to)};
      sums.together.reset();
      if (merged.together && r.together) {
        const time_window both{std::max(merged.together->from, r.together->from),
                               std::min(merged.together->to, r.together->to)};
        if (both.from < both.to) sums.together = both;
      }
    } else {
      sums.window.reset(); // a report that does not say when it ran: overlap unknown
      sums.together.reset();
    }
    merged = sums;
  }
  return merged;
}

bench_report merge_reports(const std::vector<std::string>& files) {
  if (files.empty()) throw usage_error("--merge needs at least one report file");
  std::vector<named_report> reports;
  reports.reserve(files.size());
  for (const auto& path : files) reports.push_back({path, parse_report(read_report_file(path), path)});
  return combine_reports(reports);
}

} // namespace echo
