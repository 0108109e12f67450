#include "echo/client/bench/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace echo {

std::uint64_t latency_histogram::upper_edge(std::size_t index) noexcept {
  if (index < sub_buckets) return index;
  const std::size_t half = sub_buckets / 2;
  const auto magnitude = static_cast<unsigned>((index - half) / half);
  const std::uint64_t sub = (index - half) % half + half;
  return ((sub + 1) << magnitude) - 1;
}

void latency_histogram::record_series(std::uint64_t first, std::uint64_t step, std::uint64_t n) noexcept {
  if (n == 0) return;
  total_ += n;
  min_ = std::min(min_, first);
  max_ = std::max(max_, first + step * (n - 1));
  std::uint64_t value = first;
  while (n > 0) {
    // The values from `value` on that share its bucket: up to its upper edge.
    const auto index = index_of(value);
    const std::uint64_t here = step == 0 ? n : std::min(n, (upper_edge(index) - value) / step + 1);
    counts_[index] += here;
    n -= here;
    if (n > 0) value += here * step;
  }
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
}

std::uint64_t latency_histogram::quantile(double q) const noexcept {
  if (total_ == 0) return 0;
  const auto wanted = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(total_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= wanted) return std::min(upper_edge(i), max_);
  }
  return max_;
}

} // namespace echo
