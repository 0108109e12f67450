// The counter table and what is generated from it: the stats line, a
// family's reasons for a log line, and the echo_* families of /metrics.
#include "echo/server/metrics/metrics_collector.hpp"
#include "echo/server/metrics/server_stats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

using echo::counter_id;
using echo::counter_table;
using echo::server_stats;

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Row `index` as a counter_id (the constructor only takes names known when
// the test is compiled).
counter_id row(std::size_t index) {
  counter_id id = "sessions_opened";
  id.index = index;
  return id;
}

TEST(ServerStats, DescribeIsTheStatsLineInTableOrder) {
  server_stats stats;
  stats.add("sessions_opened", 3);
  stats.add("sessions_closed");
  stats.add("tcp_bytes_in", 5);
  stats.add("metrics_requests", 9); // not in the stats line
  const auto line = echo::describe(stats);

  EXPECT_TRUE(line.starts_with("sessions_open=2 sessions_opened=3 sessions_closed=1 sessions_rejected=0 ")) << line;
  EXPECT_TRUE(line.ends_with(" udp_send_waits=0")) << line;
  EXPECT_NE(line.find(" tcp_bytes_in=5 "), std::string::npos) << line;
  EXPECT_EQ(line.find("metrics_"), std::string::npos) << line;

  // One name=value per row of the stats line, in the table's order, after
  // sessions_open.
  std::vector<std::string> expected{"sessions_open=2"};
  for (std::size_t i = 0; i < counter_table.size(); ++i)
    if (counter_table[i].in_stats_line)
      expected.push_back(std::string(counter_table[i].name) + "=" + std::to_string(stats.at(i)));
  EXPECT_EQ(words(line), expected);
}

TEST(ServerStats, DescribeReasonsListsAFamilysReasonsInTableOrder) {
  server_stats stats;
  stats.add("dropped_too_large", 2);
  stats.add("dropped_rate_limited", 5);
  stats.add("sessions_rejected_proxy");
  EXPECT_EQ(echo::describe_reasons(stats, "echo_udp_dropped_datagrams_total"),
            "blocked_port=0 too_large=2 loop=0 rate_limited=5 send_failed=0");
  EXPECT_EQ(echo::describe_reasons(stats, "echo_tcp_connections_rejected_total"),
            "max_connections=0 max_connections_per_source=0 proxy_protocol=1 untrusted=0");
  EXPECT_EQ(echo::describe_reasons(stats, "echo_no_such_family_total"), "");
}

TEST(ServerStats, SessionsOpenIsOpenedLessClosed) {
  server_stats stats;
  EXPECT_EQ(stats.sessions_open(), 0u);
  stats.add("sessions_opened", 4);
  stats.add("sessions_closed", 3);
  EXPECT_EQ(stats.sessions_open(), 1u);
  EXPECT_EQ(stats.get("sessions_opened"), 4u);
}

// Every row of the table with a family is one sample of /metrics, told
// apart by its value (row i counts size - i, so that more sessions opened
// than closed), and every family has its HELP.
TEST(ServerStats, EveryCounterIsOneSampleOfAFamilyWithHelp) {
  server_stats stats;
  for (std::size_t i = 0; i < counter_table.size(); ++i) stats.add(row(i), counter_table.size() - i);
  const echo::server_collector collector(stats);
  const auto text = echo::render_metrics({&collector});
  const auto all = lines(text);

  // HELP and TYPE: once per family, HELP not empty.
  std::map<std::string, int> help;
  std::map<std::string, int> type;
  for (const auto& line : all) {
    const auto w = words(line);
    if (w.size() >= 3 && w[0] == "#" && w[1] == "HELP") {
      ++help[w[2]];
      EXPECT_GE(w.size(), 4u) << "empty HELP: " << line;
    }
    if (w.size() >= 3 && w[0] == "#" && w[1] == "TYPE") ++type[w[2]];
  }
  ASSERT_FALSE(type.empty()) << text;
  for (const auto& [family, n] : type) {
    EXPECT_EQ(n, 1) << family << " declared " << n << " times";
    EXPECT_EQ(help[family], 1) << family << " has no single HELP";
  }
  EXPECT_EQ(help.size(), type.size());
  for (const auto* fixed : {"echo_build_info", "echo_tcp_connections_active", "echo_tcp_session_duration_seconds"})
    EXPECT_EQ(type.count(fixed), 1u) << fixed;

  for (std::size_t i = 0; i < counter_table.size(); ++i) {
    const auto& r = counter_table[i];
    if (r.family.empty()) continue;
    EXPECT_EQ(type.count(std::string(r.family)), 1u) << r.name << ": no family " << r.family;
    std::string sample(r.family);
    if (!r.reason.empty()) sample += "{reason=\"" + std::string(r.reason) + "\"}";
    const auto prefix = sample + " ";
    const auto n = std::count_if(all.begin(), all.end(), [&](const std::string& l) { return l.starts_with(prefix); });
    EXPECT_EQ(n, 1) << r.name << ": " << sample << " appears " << n << " times";
    EXPECT_NE(std::find(all.begin(), all.end(), prefix + std::to_string(counter_table.size() - i)), all.end())
        << r.name << ": no sample " << prefix << counter_table.size() - i << " in\n"
        << text;
  }
  // sessions_closed has no family of its own; it shows in the gauge.
  const auto opened = stats.get("sessions_opened");
  const auto closed = stats.get("sessions_closed");
  ASSERT_GE(opened, closed);
  EXPECT_NE(std::find(all.begin(), all.end(), "echo_tcp_connections_active " + std::to_string(opened - closed)),
            all.end())
      << text;
}

} // namespace
