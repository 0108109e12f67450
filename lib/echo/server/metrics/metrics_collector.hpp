#pragma once

#include "echo/server/metrics/server_stats.hpp"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace echo {

// The server's counters as Prometheus families (echo_*), read at scrape
// time from the relaxed atomics the hot path bumps: nothing is kept twice
// and nothing on the echo path knows about Prometheus.
class server_collector : public prometheus::Collectable {
public:
  explicit server_collector(const server_stats& stats) : stats_(stats) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

private:
  const server_stats& stats_;
};

// The standard process_* families, read from /proc/self at scrape time.
class process_collector : public prometheus::Collectable {
public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

// Every family of `collectables`, in the text exposition format 0.0.4.
std::string render_metrics(const std::vector<const prometheus::Collectable*>& collectables);

} // namespace echo
