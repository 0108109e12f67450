#include "echo/client/bench/merge_reports.hpp"
#include "echo/common/usage_error.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using echo::bench_report;
using echo::named_report;
using echo::time_window;
using echo::wall_time;
using namespace std::chrono_literals;

// 2024-05-01T12:00:00.000Z
const wall_time noon{std::chrono::sys_days{std::chrono::year{2024} / 5 / 1} + 12h};

bench_report a_run(std::uint64_t first_latency, std::string id, wall_time started = noon) {
  bench_report r;
  r.connections = 4;
  r.size = 64;
  r.pipeline = 1;
  r.seconds = 2;
  for (std::uint64_t i = 0; i < 1000; ++i) r.latency.record(first_latency + i * 97);
  r.requests = r.latency.count();
  r.bytes = r.requests * r.size;
  r.connections_echoed = 4;
  r.window = time_window{started, started + 2s};
  r.together = r.window;
  r.runs = {std::move(id)};
  return r;
}

std::string refusal(const std::string& text, const std::string& name = "r.json") {
  try {
    echo::parse_report(text, name);
  } catch (const echo::usage_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << text;
  return {};
}

std::string refusal(const std::vector<named_report>& reports) {
  try {
    echo::combine_reports(reports);
  } catch (const echo::usage_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "combined";
  return {};
}

// `text` with the first `from` replaced by `to`.
std::string edited(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

TEST(MergeReports, AReportReadsBackAsItWasWritten) {
  const auto run = a_run(20'000, "00000000000000a1");
  const auto json = echo::format_json(run);
  const auto back = echo::parse_report(json, "a.json");
  EXPECT_EQ(echo::format_json(back), json);
  EXPECT_EQ(back.window, run.window);
  EXPECT_EQ(back.runs, run.runs);
}

TEST(MergeReports, CountsMustBeIntegersInRange) {
  const auto json = echo::format_json(a_run(20'000, "00000000000000a1"));
  EXPECT_NE(refusal(edited(json, R"("requests":1000)", R"("requests":-1)")).find(R"("requests" is negative (-1))"),
            std::string::npos);
  EXPECT_NE(refusal(edited(json, R"("requests":1000)", R"("requests":1e3)")).find("is not an integer"),
            std::string::npos);
  EXPECT_NE(refusal(edited(json, R"("requests":1000)", R"("requests":"1000")")).find("is a string, not a count"),
            std::string::npos);
  EXPECT_NE(refusal(edited(json, R"("pipeline":1)", R"("pipeline":0)")).find(R"("pipeline" is 0, not 1 to 4096)"),
            std::string::npos);
  EXPECT_NE(refusal(edited(json, R"("requests":1000)", R"("requests":1001)")).find("holds 1000 samples for 1001"),
            std::string::npos);
}

TEST(MergeReports, TheHistogramMustBeOfOurUnitsAndLayoutWithItsExtremesInside) {
  const auto json = echo::format_json(a_run(20'000, "00000000000000a1"));
  EXPECT_NE(refusal(edited(json, R"("unit":"ns")", R"("unit":"us")")).find("in 'us', not in ns"), std::string::npos);
  EXPECT_NE(refusal(edited(json, R"("sub_buckets":64)", R"("sub_buckets":32)")).find("another bucket layout"),
            std::string::npos);
  EXPECT_NE(refusal(edited(json, R"("min":20000)", R"("min":30000000)")).find("is above its max"), std::string::npos);
  const auto max = std::to_string(20'000 + 999 * 97);
  EXPECT_NE(refusal(edited(json, R"("max":)" + max, R"("max":18446744073709551615)")).find("not in its last bucket"),
            std::string::npos);
}

TEST(MergeReports, FilesThatAreNotOneJsonObjectSayWhatTheyStartWith) {
  const auto json = echo::format_json(a_run(20'000, "00000000000000a1"));
  EXPECT_NE(refusal("[1s] 500 requests\n" + json).find("it starts with '[1s] 500 requests'"), std::string::npos);
  EXPECT_NE(refusal(json + json).find("not JSON: extra data"), std::string::npos);
  EXPECT_NE(refusal("{\"requests\":1," + json.substr(1)).find(R"(the key "requests" is given twice)"),
            std::string::npos);
  EXPECT_NE(refusal("  \n").find("only white space"), std::string::npos);
}

TEST(MergeReports, TheStatedPercentilesAndRatesMustBeTheHistograms) {
  const auto run = a_run(20'000, "00000000000000a1");
  const auto json = echo::format_json(run);
  const auto p50 = R"("p50":)" + std::to_string(run.latency.quantile(0.5) / 1000) + ".";
  EXPECT_NE(refusal(edited(json, p50, R"("p50":1)")).find(R"("latency_us.p50" is)"), std::string::npos);
  EXPECT_NE(refusal(edited(json, R"("req_per_s":500.000)", R"("req_per_s":900.000)")).find(R"("req_per_s" is 900)"),
            std::string::npos);
}

TEST(MergeReports, TimesMustBeWellFormedAndFitTheDuration) {
  const auto json = echo::format_json(a_run(20'000, "00000000000000a1"));
  EXPECT_NE(refusal(edited(json, R"("ended":"2024-05-01T12:00:02.000Z")", R"("ended":"2024-05-01T11:00:00.000Z")"))
                .find("ended before it started"),
            std::string::npos);
  EXPECT_NE(refusal(edited(json, R"("ended":"2024-05-01T12:00:02.000Z")", R"("ended":"2024-05-01T12:00:09.000Z")"))
                .find("it ran 2 s from"),
            std::string::npos);
  EXPECT_NE(refusal(edited(json, R"("started":"2024-05-01T12:00:00.000Z")", R"("started":"2024-05-01")"))
                .find("not a time as"),
            std::string::npos);
}

TEST(MergeReports, OldReportsWithoutTimesOrRunIdsStillRead) {
  auto old = a_run(20'000, "");
  old.window.reset();
  old.together.reset();
  old.runs.clear();
  auto json = echo::format_json(old);
  json = edited(json, R"(,"generators":1,"started":null,"ended":null,"overlap":null,"runs":[])", "");
  json = edited(json, R"("sub_buckets":64,)", "");
  const auto back = echo::parse_report(json, "old.json");
  EXPECT_FALSE(back.window);
  EXPECT_EQ(back.generators, 1u);
  EXPECT_EQ(back.requests, 1000u);
}

TEST(MergeReports, TwoRunsAtOnceMergeExactlyAndSayTheyOverlapped) {
  const auto a = a_run(20'000, "00000000000000a1");
  const auto b = a_run(50'000, "00000000000000b2", noon + 1500ms);
  const auto merged = echo::combine_reports({{"a.json", a}, {"b.json", b}});
  EXPECT_EQ(merged.requests, 2000u);
  EXPECT_EQ(merged.connections, 8u);
  EXPECT_EQ(merged.generators, 2u);
  EXPECT_EQ(merged.latency.min(), 20'000u);
  EXPECT_EQ(merged.latency.max(), 50'000u + 999 * 97);
  ASSERT_TRUE(merged.window);
  EXPECT_EQ(*merged.window, (time_window{noon, noon + 3500ms}));
  ASSERT_TRUE(merged.together);
  EXPECT_EQ(*merged.together, (time_window{noon + 1500ms, noon + 2s}));
  const auto text = echo::format_text(merged);
  EXPECT_NE(text.find("generators  2, all running at once for 0.5 s (3.5 s from 2024-05-01T12:00:00.000Z to "
                      "2024-05-01T12:00:03.500Z)"),
            std::string::npos)
      << text;
  // A merge reads back, and merges again with a third run.
  const auto again = echo::parse_report(echo::format_json(merged), "ab.json");
  const auto c = a_run(90'000, "00000000000000c3", noon + 1800ms);
  const auto all = echo::combine_reports({{"ab.json", again}, {"c.json", c}});
  EXPECT_EQ(all.generators, 3u);
  EXPECT_EQ(*all.together, (time_window{noon + 1800ms, noon + 2s}));
}

TEST(MergeReports, RunsOneAfterAnotherDoNotOverlapAndUnknownTimesAreSaid) {
  const auto a = a_run(20'000, "00000000000000a1");
  const auto b = a_run(50'000, "00000000000000b2", noon + 2s);
  const auto merged = echo::combine_reports({{"a.json", a}, {"b.json", b}});
  EXPECT_TRUE(merged.window);
  EXPECT_FALSE(merged.together);
  EXPECT_NE(echo::format_text(merged).find("NOT all running at once"), std::string::npos);
  EXPECT_NE(echo::format_json(merged).find(R"("overlap":null)"), std::string::npos);

  auto old = b;
  old.window.reset();
  old.together.reset();
  const auto unknown = echo::combine_reports({{"a.json", a}, {"old.json", old}});
  EXPECT_FALSE(unknown.window);
  EXPECT_NE(echo::format_text(unknown).find("times unknown"), std::string::npos);
}

TEST(MergeReports, OneRunTwiceIsRefused) {
  const auto a = a_run(20'000, "00000000000000a1");
  EXPECT_EQ(refusal({{"a.json", a}, {"copy.json", a}}), "cannot merge copy.json: it is the same report as a.json "
                                                        "(one run would count twice)");
  const auto b = a_run(50'000, "00000000000000b2");
  const auto ab = echo::combine_reports({{"a.json", a}, {"b.json", b}});
  EXPECT_NE(refusal({{"ab.json", ab}, {"a.json", a}}).find("it holds run 00000000000000a1, which ab.json holds too"),
            std::string::npos);
}

TEST(MergeReports, SumsThatWouldWrapAreRefused) {
  auto a = a_run(20'000, "00000000000000a1");
  auto b = a_run(50'000, "00000000000000b2");
  b.bytes = UINT64_MAX - 10;
  EXPECT_EQ(refusal({{"a.json", a}, {"b.json", b}}),
            "cannot merge b.json: the bytes of the reports add up to more than 18446744073709551615");
}

TEST(MergeReports, ReportsOfDifferentRunsAreRefused) {
  const auto a = a_run(20'000, "00000000000000a1");
  auto b = a_run(50'000, "00000000000000b2");
  b.pipeline = 8;
  EXPECT_EQ(refusal({{"a.json", a}, {"b.json", b}}),
            "cannot merge b.json: its --pipeline is 8, a.json's is 1 (only runs with the same settings merge)");
}

} // namespace
