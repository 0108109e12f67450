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
