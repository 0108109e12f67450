#pragma once

#include <boost/asio/buffer.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace echo {

// Fixed-size I/O buffers that idle TCP sessions do not hold: a session waits
// for readability owning nothing, then leases a buffer for one read and write.
// Free buffers are kept per thread (no lock on the hot path) up to
// `cached_per_thread`; in steady state a lease allocates nothing.
class buffer_pool {
public:
  static constexpr std::size_t buffer_size = 64 * 1024;
  static constexpr std::size_t cached_per_thread = 64;

  class lease {
  public:
    lease() = default;
    explicit lease(std::unique_ptr<std::byte[]> memory) noexcept : memory_(std::move(memory)) {}
    lease(lease&&) noexcept = default;
    lease& operator=(lease&& other) noexcept {
      release();
      memory_ = std::move(other.memory_);
      return *this;
    }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() { release(); }

    std::span<std::byte> bytes() const noexcept { return {memory_.get(), buffer_size}; }
    boost::asio::mutable_buffer buffer() const noexcept { return {memory_.get(), buffer_size}; }
    explicit operator bool() const noexcept { return memory_ != nullptr; }

  private:
    void release() noexcept;
    std::unique_ptr<std::byte[]> memory_;
  };

  static lease acquire();

  // Buffers currently cached by the calling thread.
  static std::size_t cached() noexcept;
};

} // namespace echo
