#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace echo {

// Log-linear histogram of non-negative integers (nanoseconds here), in
// fixed memory: every power of two is split into `sub_buckets` equal parts,
// so a recorded value is off by less than 1/sub_buckets (under 1.6 %).
// Recording is a few arithmetic instructions and never allocates.
class latency_histogram {
public:
  static constexpr unsigned sub_bucket_bits = 6;
  static constexpr std::uint64_t sub_buckets = 1u << sub_bucket_bits;
  static constexpr unsigned magnitudes = 64 - sub_bucket_bits + 1;
  static constexpr std::size_t bucket_count = sub_buckets + (magnitudes - 1) * (sub_buckets / 2);

  void record(std::uint64_t value) noexcept {
    ++counts_[index_of(value)];
    ++total_;
    if (value > max_) max_ = value;
    if (value < min_) min_ = value;
  }

  // Records first, first + step, ..., first + (n - 1) * step exactly as n
  // calls of record() would, in one step per bucket rather than per value:
  // the corrected latencies of a run of skipped sends (see send_schedule).
  // The last value must fit in 64 bits.
  void record_series(std::uint64_t first, std::uint64_t step, std::uint64_t n) noexcept;

  void merge(const latency_histogram& other) noexcept;

  // Bucket by bucket, for writing a histogram out and reading it back
  // (--bench --json, --merge): `count` values in bucket `index`, with the
  // smallest and largest value of all given separately.
  template <class Visit>
  void for_each_bucket(Visit visit) const {
    for (std::size_t i = 0; i < counts_.size(); ++i)
      if (counts_[i] != 0) visit(i, counts_[i]);
  }
  // False when `index` is not a bucket. Keeps min/max as given by add_extremes().
  bool add_bucket(std::size_t index, std::uint64_t count) noexcept {
    if (index >= counts_.size()) return false;
    counts_[index] += count;
    total_ += count;
    return true;
  }
  void add_extremes(std::uint64_t min, std::uint64_t max) noexcept {
    if (min < min_) min_ = min;
    if (max > max_) max_ = max;
  }
  void reset() noexcept { *this = latency_histogram{}; }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t max() const noexcept { return total_ ? max_ : 0; }
  std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
  // The smallest recorded value v such that at least q (0..1) of all values
  // are <= v, reported as the upper edge of its bucket (never above max()).
  std::uint64_t quantile(double q) const noexcept;

  static std::size_t index_of(std::uint64_t value) noexcept {
    if (value < sub_buckets) return static_cast<std::size_t>(value);
    const unsigned magnitude = static_cast<unsigned>(std::bit_width(value)) - sub_bucket_bits;
    const std::uint64_t sub = value >> magnitude; // in [sub_buckets/2 .. sub_buckets) after the first row
    return static_cast<std::size_t>(magnitude * (sub_buckets / 2) + sub);
  }
  static std::uint64_t upper_edge(std::size_t index) noexcept;

private:
  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = UINT64_MAX;
};

} // namespace echo
