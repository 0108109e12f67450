#include "echo/client/bench/merge_reports.hpp"

#include "echo/common/usage_error.hpp"

#include <boost/json.hpp>

#include <fstream>
#include <iterator>

namespace echo {
namespace {

namespace json = boost::json;

struct report_file {
  const std::string& path;
  const json::object& object;

  [[noreturn]] void fail(const std::string& why) const { throw usage_error("cannot merge " + path + ": " + why); }

  std::uint64_t count(const char* key) const {
    const auto* value = object.if_contains(key);
    if (!value) fail(std::string("no \"") + key + "\" (not a report of --bench --json?)");
    if (const auto* n = value->if_uint64()) return *n;
    if (const auto* n = value->if_int64(); n && *n >= 0) return static_cast<std::uint64_t>(*n);
    fail(std::string("\"") + key + "\" is not a count");
  }
  double real(const char* key) const {
    const auto* value = object.if_contains(key);
    if (!value || !value->is_number()) fail(std::string("no number \"") + key + "\"");
    return value->to_number<double>();
  }
  std::string text(const char* key) const {
    const auto* value = object.if_contains(key);
    if (!value || !value->is_string()) fail(std::string("no \"") + key + "\"");
    return std::string(value->get_string());
  }
};

bench_report read_report(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw usage_error("cannot merge " + path + ": cannot read it");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  boost::system::error_code ec;
  const auto value = json::parse(text, ec);
  if (ec || !value.is_object()) throw usage_error("cannot merge " + path + ": not a JSON object");
  const report_file file{path, value.get_object()};

  bench_report r;
  const auto protocol = file.text("protocol");
  if (protocol != "tcp" && protocol != "udp") file.fail("protocol '" + protocol + "'");
  r.protocol = protocol == "tcp" ? transport::tcp : transport::udp;
  r.connections = file.count("connections");
  r.size = file.count("size");
  r.pipeline = file.count("pipeline");
  r.seconds = file.real("seconds");
  r.requests = file.count("requests");
  r.bytes = file.count("bytes");
  r.errors = file.count("errors");
  r.mismatches = file.count("mismatches");
  r.lost = file.count("lost");
  r.connections_echoed = file.count("connections_echoed");
  // Reports from before --tls have no "tls": plain TCP.
  if (const auto* tls = file.object.if_contains("tls"); tls && tls->is_bool()) r.tls = tls->as_bool();
  if (const auto* churn = file.object.if_contains("churn"); churn && churn->is_bool()) r.churn = churn->as_bool();

  const auto* histogram = file.object.if_contains("histogram");
  if (!histogram || !histogram->is_object()) file.fail("no \"histogram\" (a report of an older echo-client?)");
  const report_file h{path, histogram->get_object()};
  const auto* buckets = h.object.if_contains("buckets");
  if (!buckets || !buckets->is_array()) file.fail("no histogram buckets");
  for (const auto& bucket : buckets->get_array()) {
    const auto* pair = bucket.if_array();
    if (!pair || pair->size() != 2 || !(*pair)[0].is_number() || !(*pair)[1].is_number())
      file.fail("a histogram bucket that is not [index, count]");
    const auto index = (*pair)[0].to_number<std::uint64_t>();
    const auto count = (*pair)[1].to_number<std::uint64_t>();
    if (!r.latency.add_bucket(static_cast<std::size_t>(index), count)) file.fail("a histogram bucket out of range");
  }
  if (r.latency.count() != r.requests) file.fail("its histogram does not hold one sample per request");
  if (r.latency.count() > 0) r.latency.add_extremes(h.count("min"), h.count("max"));
  return r;
}

} // namespace

bench_report merge_reports(const std::vector<std::string>& files) {
  if (files.empty()) throw usage_error("--merge needs at least one report file");
  bench_report merged = read_report(files.front());
  for (std::size_t i = 1; i < files.size(); ++i) {
    const auto r = read_report(files[i]);
    const auto differs = [&](const char* what, auto mine, auto theirs) {
      throw usage_error("cannot merge " + files[i] + ": its " + what + " is " + theirs + ", " + files.front() +
                        "'s is " + mine + " (only runs with the same settings merge)");
    };
    if (r.protocol != merged.protocol)
      differs("protocol", std::string(merged.protocol == transport::tcp ? "tcp" : "udp"),
              std::string(r.protocol == transport::tcp ? "tcp" : "udp"));
    if (r.tls != merged.tls)
      differs("transport", std::string(merged.tls ? "TLS" : "plain"), std::string(r.tls ? "TLS" : "plain"));
    if (r.churn != merged.churn)
      differs("--churn", std::string(merged.churn ? "on" : "off"), std::string(r.churn ? "on" : "off"));
    if (r.size != merged.size) differs("--size", std::to_string(merged.size), std::to_string(r.size));
    if (r.pipeline != merged.pipeline)
      differs("--pipeline", std::to_string(merged.pipeline), std::to_string(r.pipeline));
    merged.connections += r.connections;
    merged.seconds = std::max(merged.seconds, r.seconds);
    merged.requests += r.requests;
    merged.bytes += r.bytes;
    merged.errors += r.errors;
    merged.mismatches += r.mismatches;
    merged.lost += r.lost;
    merged.connections_echoed += r.connections_echoed;
    merged.latency.merge(r.latency);
  }
  return merged;
}

} // namespace echo
