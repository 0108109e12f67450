#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace echo {

enum class close_reason : std::uint8_t { none, idle, shutdown };

// The open TCP sessions, so that the server can close the idle ones (one
// sweep timer for all of them instead of a timer per session) and, at the
// end of a graceful stop, every one still open.
//
// Idle means no progress either way. A session blocked writing to a slow
// reader sees no completion for a long time (the kernel reports room only
// once half its send queue has drained), and one whose echo is all queued
// sees none at all; so before closing a session as idle, its kernel send
// queue is looked at: while it holds data and keeps shrinking, the peer is
// reading and the session is kept.
//
// A session registers with an `entry` that lives in its coroutine frame.
// Closing is always done on the session's own executor, where the coroutine
// is suspended: the request is posted there and finds the entry by id, so it
// is harmless if the session has ended in the meantime. Entries and pending
// requests share ownership of the registry, so a session frame destroyed
// with its io_context after the server is gone still finds it alive.
class session_registry : public std::enable_shared_from_this<session_registry> {
public:
  using clock = std::chrono::steady_clock;

  class entry {
  public:
    entry(std::shared_ptr<session_registry> registry, boost::asio::ip::tcp::socket& socket,
          boost::asio::any_io_executor executor);
    ~entry();
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;

    // Called on traffic; the idle sweep reads it from another thread.
    void touch(clock::time_point now = clock::now()) noexcept {
      last_activity_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    }
    // Why the server wants this session closed (none: it does not).
    close_reason reason() const noexcept { return reason_; }

  private:
    friend class session_registry;
    // True when the peer is still taking what we sent: our kernel send
    // queue holds data and has shrunk since the last look, with no other
    // progress in between (or this is the first look since some). Counts as
    // activity when true. Runs on the session's executor.
    bool peer_still_reading() noexcept;

    std::shared_ptr<session_registry> registry_;
    boost::asio::ip::tcp::socket& socket_;
    boost::asio::any_io_executor executor_;
    std::atomic<clock::rep> last_activity_;
    close_reason reason_ = close_reason::none;
    int send_queue_seen_ = -1;      // bytes in the send queue at the last look; -1: none yet
    clock::rep activity_at_look_{}; // last_activity_ as that look left it
    std::uint64_t id_;
  };

  // Closes sessions with no traffic since `cutoff`; returns how many it asked.
  std::size_t close_idle(clock::time_point cutoff);
  // Closes every session, and any that registers from now on.
  void close_all();

private:
  void request_close(std::uint64_t id, const boost::asio::any_io_executor& executor, close_reason reason);

  std::mutex mutex_;
  std::unordered_map<std::uint64_t, entry*> entries_;
  std::uint64_t next_id_ = 0;
  bool closing_all_ = false;
};

} // namespace echo
