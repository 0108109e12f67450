#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace echo {

// The bytes pipe mode has sent and not yet seen come back, so every byte of
// the echo is compared with what was sent, not only counted. It is a ring of
// fixed capacity: the sender waits for room(), so memory stays bounded however
// large the input, and a server that stops echoing stops the sender too.
class echo_window {
public:
  explicit echo_window(std::size_t capacity) : ring_(capacity) {}

  std::size_t capacity() const { return ring_.size(); }
  std::size_t size() const { return size_; }
  std::size_t room() const { return ring_.size() - size_; }

  // Remembers bytes just sent. Needs data.size() <= room().
  void push(std::span<const char> data);

  // Compares the echo with the oldest bytes sent and forgets those that
  // match. Returns the offset in `echo` of the first byte that differs, or
  // of the first byte beyond what was sent; nothing if all of it matched.
  std::optional<std::size_t> match(std::span<const char> echo);

  // How many bytes have matched so far: the offset in the stream of the
  // next byte expected back.
  std::uint64_t matched() const { return matched_; }

private:
  std::vector<char> ring_;
  std::size_t head_ = 0; // the oldest byte not yet echoed
  std::size_t size_ = 0;
  std::uint64_t matched_ = 0;
};

} // namespace echo
