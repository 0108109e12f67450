#include "echo/client/modes/echo_window.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace echo {

void echo_window::push(std::span<const char> data) {
  assert(data.size() <= room());
  std::size_t tail = (head_ + size_) % ring_.size();
  while (!data.empty()) {
    const auto n = std::min(data.size(), ring_.size() - tail);
    std::memcpy(ring_.data() + tail, data.data(), n);
    data = data.subspan(n);
    size_ += n;
    tail = (tail + n) % ring_.size();
  }
}

std::optional<std::size_t> echo_window::match(std::span<const char> echo) {
  std::size_t offset = 0;
  while (offset < echo.size()) {
    if (size_ == 0) return offset; // more came back than was sent
    const auto n = std::min({echo.size() - offset, size_, ring_.size() - head_});
    const auto* expected = ring_.data() + head_;
    const auto* got = echo.data() + offset;
    const auto differs = std::mismatch(got, got + n, expected).first;
    const auto same = static_cast<std::size_t>(differs - got);
    head_ = (head_ + same) % ring_.size();
    size_ -= same;
    matched_ += same;
    offset += same;
    if (same < n) return offset;
  }
  return std::nullopt;
}

} // namespace echo
