// --bench --rate: the schedule each connection follows, what is recorded
// when an echo comes back, and how the report says it.
#include "echo/client/bench/bench_report.hpp"
#include "echo/client/bench/bench_run.hpp"
#include "echo/client/bench/send_schedule.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace {

using namespace std::chrono_literals;
using echo::bench_report;
using echo::bench_run;
using echo::send_schedule;
using clock_type = send_schedule::clock;

const clock_type::time_point origin = clock_type::time_point() + 1000s;

TEST(SendSchedule, OnTimeSendsTakeEverySlotInTurn) {
  send_schedule s(origin, 10ms);
  for (std::uint64_t k = 0; k < 5; ++k) {
    EXPECT_EQ(s.next_due(), origin + k * 10ms);
    const auto slot = s.take(s.next_due() + 200us); // a timer wakes a little after
    EXPECT_EQ(slot.index, k);
    EXPECT_EQ(slot.due, origin + k * 10ms);
    EXPECT_EQ(slot.skipped, 0u);
    EXPECT_FALSE(slot.late);
  }
}

TEST(SendSchedule, LateIsMoreThanTheToleranceButLessThanAnInterval) {
  send_schedule s(origin, 10ms);
  EXPECT_FALSE(s.take(origin + send_schedule::tolerance).late); // exactly the tolerance: on time
  const auto late = s.take(origin + 10ms + send_schedule::tolerance + 1ns);
  EXPECT_TRUE(late.late);
  EXPECT_EQ(late.index, 1u);
  EXPECT_EQ(late.skipped, 0u);
  const auto almost = s.take(origin + 20ms + 9999us); // slot 2, just before slot 3 is due
  EXPECT_TRUE(almost.late);
  EXPECT_EQ(almost.index, 2u);
  EXPECT_EQ(almost.skipped, 0u);
  EXPECT_EQ(s.next_due(), origin + 30ms);
}

TEST(SendSchedule, BehindByAnIntervalItSkipsToTheNewestDueSlotNotABurst) {
  send_schedule s(origin, 2ms);
  s.take(origin); // slot 0 goes out, then the server stalls for half a second
  const auto after = s.take(origin + 500ms + 300us);
  EXPECT_EQ(after.index, 250u); // due at 500 ms: slots 1..249 are skipped
  EXPECT_EQ(after.skipped, 249u);
  EXPECT_EQ(after.due, origin + 500ms);
  EXPECT_FALSE(after.late);
  // The next send waits for its own slot: no catching up.
  EXPECT_EQ(s.next_due(), origin + 502ms);
  // When the slot after is due exactly, the slot before it is skipped.
  const auto boundary = s.take(origin + 504ms);
  EXPECT_EQ(boundary.index, 252u);
  EXPECT_EQ(boundary.skipped, 1u);
}

TEST(SendSchedule, AtTheEndUnsentDueSlotsButTheNewestAreSkipped) {
  send_schedule s(origin, 10ms);
  s.take(origin);
  EXPECT_EQ(s.skip_until(origin + 5ms), 0u);  // slot 1 not yet due
  EXPECT_EQ(s.skip_until(origin + 15ms), 0u); // slot 1 due, but may have been going out
  EXPECT_EQ(s.skip_until(origin + 41ms), 3u); // slots 1..3; slot 4 is the newest due
  EXPECT_EQ(s.next_due(), origin + 40ms);
}

TEST(SendSchedule, ATightIntervalIsNeverLateOnlySkipping) {
  send_schedule s(origin, 500us); // 2000 a second: the tolerance is two intervals
  s.take(origin);
  const auto slot = s.take(origin + 500us + 499us);
  EXPECT_FALSE(slot.late);
  EXPECT_EQ(slot.skipped, 0u);
  const auto behind = s.take(origin + 2000us + 300us); // slots 2 and 3 are past, 4 is due
  EXPECT_FALSE(behind.late);
  EXPECT_EQ(behind.skipped, 2u);
  EXPECT_EQ(behind.index, 4u);
}

struct run_fixture : ::testing::Test {
  echo::client_config config;
  echo::bench_config bench;
};

using BenchRun = run_fixture;

TEST_F(BenchRun, TheRateIsSharedByTheConnections) {
  bench.connections = 4;
  bench.rate = 400; // 100 a second each: one every 10 ms
  bench_run run(config, bench);
  run.start = origin;
  ASSERT_TRUE(run.paced());
  EXPECT_EQ(run.interval(), 10ms);
  EXPECT_EQ(run.report.model, bench_report::load_model::open_loop);
  EXPECT_EQ(run.report.rate, 400);
  const auto s = run.schedule();
  EXPECT_EQ(s.next_due(), origin);
  EXPECT_EQ(s.due(3), origin + 30ms);
}

TEST_F(BenchRun, AnAbsurdlySlowRateStillHasDueTimesOnTheClock) {
  bench.rate = 1e-12;
  bench_run run(config, bench);
  EXPECT_EQ(run.interval(), std::chrono::seconds(1'000'000));
}

TEST_F(BenchRun, AnEchoRecordsBothLatenciesAndTheSlotsItTookThePlaceOf) {
  bench.rate = 500; // one connection: every 2 ms
  bench_run run(config, bench);
  run.start = origin;
  // Due at 500 ms, sent 300 us later standing in for the 249 slots before
  // it, echoed 100 us after the send.
  const bench_run::send_times sent{origin + 500ms, origin + 500ms + 300us, 249};
  run.completed(sent, sent.sent + 100us);
  EXPECT_EQ(run.report.requests, 1u);
  EXPECT_EQ(run.report.skipped_recorded, 249u);
  EXPECT_EQ(run.report.uncorrected.count(), 1u);
  EXPECT_EQ(run.report.uncorrected.max(), 100'000u);
  EXPECT_EQ(run.report.latency.count(), 250u);
  EXPECT_EQ(run.report.latency.min(), 400'000u);
  // The oldest skipped slot, due at 2 ms, waited 498 ms longer.
  EXPECT_EQ(run.report.latency.max(), 400'000u + 249u * 2'000'000u);
  // Spread evenly from 0.4 ms to 498.4 ms: the median near the middle.
  EXPECT_NEAR(static_cast<double>(run.report.latency.quantile(0.5)), 249.4e6, 249.4e6 / 32);
  EXPECT_EQ(run.last_completion, sent.sent + 100us);
}

TEST_F(BenchRun, ClosedLoopRecordsServiceTimeOnce) {
  bench_run run(config, bench);
  EXPECT_FALSE(run.paced());
  EXPECT_EQ(run.report.model, bench_report::load_model::closed_loop);
  run.completed(origin, origin + 80us);
  EXPECT_EQ(run.report.latency.count(), 1u);
  EXPECT_EQ(run.report.latency.max(), 80'000u);
  EXPECT_EQ(run.report.uncorrected.count(), 0u);
}

bench_report open_loop_report() {
  bench_report r;
  r.connections = 2;
  r.model = bench_report::load_model::open_loop;
  r.rate = 1000;
  r.requests = 2;
  r.late = 3;
  r.skipped = 250;
  r.skipped_recorded = 249;
  r.latency.record(120'000);
  r.latency.record(480'000'000);
  r.latency.record_series(1'000'000, 2'000'000, 249);
  r.uncorrected.record(44'031); // the upper edge of its bucket: exact
  r.uncorrected.record(500'000'000);
  return r;
}

TEST(OpenLoopReport, TextSaysHowLatencyWasMeasured) {
  const auto open = echo::format_text(open_loop_report());
  EXPECT_NE(open.find("open loop   --rate 1000.0/s: latency above runs from when each message was due"),
            std::string::npos)
      << open;
  EXPECT_NE(open.find("uncorrected p50 44.0us"), std::string::npos) << open;
  EXPECT_NE(open.find("max 500ms  (from the actual send: service time)"), std::string::npos) << open;
  EXPECT_NE(open.find("late        3  (sent more than 1 ms after due)"), std::string::npos) << open;
  EXPECT_NE(open.find("skipped     250  (due but never sent"), std::string::npos) << open;
  EXPECT_NE(open.find("249 of them in latency above"), std::string::npos) << open;
  EXPECT_EQ(open.find("closed loop"), std::string::npos) << open;

  bench_report closed;
  closed.model = bench_report::load_model::closed_loop;
  const auto text = echo::format_text(closed);
  EXPECT_NE(text.find("closed loop no --rate: latency above is service time"), std::string::npos) << text;
  EXPECT_NE(text.find("not corrected for coordinated omission"), std::string::npos) << text;
  EXPECT_EQ(text.find("uncorrected p50"), std::string::npos) << text;
  EXPECT_EQ(text.find("skipped"), std::string::npos) << text;

  // A report that does not say (a merge of reports): neither.
  const auto unknown = echo::format_text(bench_report{});
  EXPECT_EQ(unknown.find("loop"), std::string::npos) << unknown;
}

TEST(OpenLoopReport, JsonCarriesBothHistogramsBesideEachOther) {
  const auto r = open_loop_report();
  const auto value = boost::json::parse(echo::format_json(r));
  const auto& o = value.as_object();
  EXPECT_EQ(o.at("load_model").as_string(), "open_loop");
  EXPECT_EQ(o.at("rate").to_number<double>(), 1000);
  EXPECT_EQ(o.at("late").to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(o.at("skipped").to_number<std::uint64_t>(), 250u);
  EXPECT_EQ(o.at("skipped_recorded").to_number<std::uint64_t>(), 249u);
  // The main histogram keeps its names (--merge reads them): the corrected one.
  EXPECT_EQ(o.at("histogram").at("max").to_number<std::uint64_t>(), 497'000'000u);
  EXPECT_EQ(o.at("latency_us").at("max").to_number<double>(), 497'000.0);
  const auto count = [](const boost::json::value& histogram) {
    std::uint64_t n = 0;
    for (const auto& bucket : histogram.at("buckets").as_array()) n += bucket.at(1).to_number<std::uint64_t>();
    return n;
  };
  EXPECT_EQ(count(o.at("histogram")), r.requests + r.skipped_recorded);
  const auto& uncorrected = o.at("uncorrected_histogram");
  EXPECT_EQ(uncorrected.at("unit").as_string(), "ns");
  EXPECT_EQ(uncorrected.at("min").to_number<std::uint64_t>(), 44'031u);
  EXPECT_EQ(uncorrected.at("max").to_number<std::uint64_t>(), 500'000'000u);
  EXPECT_EQ(count(uncorrected), r.requests);
  EXPECT_EQ(o.at("uncorrected_latency_us").at("p50").to_number<double>(),
            static_cast<double>(r.uncorrected.quantile(0.5)) / 1e3);
  EXPECT_EQ(o.at("uncorrected_latency_us").at("max").to_number<double>(), 500'000.0);

  bench_report closed;
  closed.model = bench_report::load_model::closed_loop;
  const auto closed_value = boost::json::parse(echo::format_json(closed));
  EXPECT_EQ(closed_value.at("load_model").as_string(), "closed_loop");
  for (const char* key :
       {"rate", "late", "skipped", "skipped_recorded", "uncorrected_latency_us", "uncorrected_histogram"})
    EXPECT_FALSE(closed_value.as_object().contains(key)) << key;
  const auto unknown = boost::json::parse(echo::format_json(bench_report{}));
  EXPECT_TRUE(unknown.at("load_model").is_null());
  EXPECT_FALSE(unknown.as_object().contains("skipped"));
}

} // namespace
