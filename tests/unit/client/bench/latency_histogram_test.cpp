#include "echo/client/bench/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

namespace {

using echo::latency_histogram;

TEST(LatencyHistogram, SmallValuesAreExact) {
  latency_histogram h;
  for (std::uint64_t v = 0; v < 64; ++v) h.record(v);
  EXPECT_EQ(h.count(), 64u);
  EXPECT_EQ(h.quantile(0.5), 31u);
  EXPECT_EQ(h.quantile(1.0), 63u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 63u);
}

TEST(LatencyHistogram, BucketsCoverEveryValueInOrder) {
  std::uint64_t previous_edge = 0;
  for (std::size_t i = 1; i < latency_histogram::bucket_count; ++i) {
    const auto edge = latency_histogram::upper_edge(i);
    EXPECT_GT(edge, previous_edge) << i;
    EXPECT_EQ(latency_histogram::index_of(edge), i) << i;
    EXPECT_EQ(latency_histogram::index_of(previous_edge + 1), i) << i;
    previous_edge = edge;
  }
  EXPECT_EQ(latency_histogram::index_of(UINT64_MAX), latency_histogram::bucket_count - 1);
  EXPECT_EQ(latency_histogram::upper_edge(latency_histogram::bucket_count - 1), UINT64_MAX);
}

TEST(LatencyHistogram, QuantilesWithinRelativeError) {
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> latency(11.0, 1.0); // around 60 us in ns
  std::vector<std::uint64_t> values;
  latency_histogram h;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<std::uint64_t>(latency(rng));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (const double q : {0.5, 0.9, 0.99, 0.999}) {
    const auto exact = values[static_cast<std::size_t>(q * static_cast<double>(values.size())) - 1];
    const auto approx = h.quantile(q);
    EXPECT_GE(approx, exact) << q;
    EXPECT_LE(static_cast<double>(approx), static_cast<double>(exact) * 1.032) << q;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.quantile(1.0), values.back());
}

TEST(LatencyHistogram, MergeAddsCounts) {
  latency_histogram a, b;
  a.record(100);
  b.record(1'000'000);
  a.merge(b);
  EXPECT_EQ(a.count(), 2u);
  EXPECT_EQ(a.max(), 1'000'000u);
  EXPECT_EQ(a.min(), 100u);
  EXPECT_LE(a.quantile(0.5), 101u);
}

// A run of skipped sends is recorded as an arithmetic series, bucket by
// bucket: exactly what recording each value would give.
TEST(LatencyHistogram, RecordSeriesEqualsRecordingEachValue) {
  const auto buckets = [](const latency_histogram& h) {
    std::vector<std::pair<std::size_t, std::uint64_t>> out;
    h.for_each_bucket([&](std::size_t i, std::uint64_t n) { out.emplace_back(i, n); });
    return out;
  };
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const std::uint64_t first = rng() % (std::uint64_t{1} << (rng() % 40));
    const std::uint64_t step = trial % 10 == 0 ? 0 : rng() % (std::uint64_t{1} << (rng() % 24));
    const std::uint64_t n = rng() % 3000;
    latency_histogram one_by_one, series;
    one_by_one.record(5); // something there already
    series.record(5);
    for (std::uint64_t i = 0; i < n; ++i) one_by_one.record(first + i * step);
    series.record_series(first, step, n);
    ASSERT_EQ(series.count(), one_by_one.count()) << first << ' ' << step << ' ' << n;
    ASSERT_EQ(series.min(), one_by_one.min());
    ASSERT_EQ(series.max(), one_by_one.max());
    ASSERT_EQ(buckets(series), buckets(one_by_one)) << first << ' ' << step << ' ' << n;
  }
  // Half a second of slots 2 ms apart: one step per bucket, not per value.
  latency_histogram stall;
  stall.record_series(400'000, 2'000'000, 250);
  EXPECT_EQ(stall.count(), 250u);
  EXPECT_EQ(stall.min(), 400'000u);
  EXPECT_EQ(stall.max(), 498'400'000u);
  EXPECT_NEAR(static_cast<double>(stall.quantile(0.99)), 493.4e6, 493.4e6 / 32);
}

TEST(LatencyHistogram, EmptyIsZero) {
  latency_histogram h;
  EXPECT_EQ(h.quantile(0.99), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(LatencyHistogram, FixedSize) { EXPECT_LT(sizeof(latency_histogram), 32u * 1024u); }

} // namespace
