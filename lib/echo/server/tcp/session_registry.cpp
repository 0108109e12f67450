#include "echo/server/tcp/session_registry.hpp"

#include <boost/asio/post.hpp>
#include <linux/sockios.h>
#include <sys/ioctl.h>

namespace echo {

session_registry::entry::entry(std::shared_ptr<session_registry> registry, boost::asio::ip::tcp::socket& socket,
                               boost::asio::any_io_executor executor)
    : registry_(std::move(registry)), socket_(socket), executor_(std::move(executor)),
      last_activity_(clock::now().time_since_epoch().count()) {
  const std::lock_guard lock(registry_->mutex_);
  id_ = registry_->next_id_++;
  registry_->entries_.emplace(id_, this);
  if (registry_->closing_all_) reason_ = close_reason::shutdown;
}

bool session_registry::entry::peer_still_reading() noexcept {
  int queued = 0;
  if (::ioctl(socket_.native_handle(), SIOCOUTQ, &queued) != 0) queued = 0;
  // A look compares with the one before only if the session did nothing
  // in between: after reads or writes the queue's size says nothing.
  const bool fresh = send_queue_seen_ < 0 || last_activity_.load(std::memory_order_relaxed) != activity_at_look_;
  const bool shrinking = queued > 0 && (fresh || queued < send_queue_seen_);
  send_queue_seen_ = queued;
  if (shrinking) touch();
  activity_at_look_ = last_activity_.load(std::memory_order_relaxed);
  return shrinking;
}

session_registry::entry::~entry() {
  const std::lock_guard lock(registry_->mutex_);
  registry_->entries_.erase(id_);
}

void session_registry::request_close(std::uint64_t id, const boost::asio::any_io_executor& executor,
                                     close_reason reason) {
  boost::asio::post(executor, [self = shared_from_this(), id, reason] {
    const std::lock_guard lock(self->mutex_);
    const auto found = self->entries_.find(id);
    if (found == self->entries_.end()) return; // ended meanwhile
    entry& e = *found->second;
    if (reason == close_reason::idle && e.peer_still_reading()) return;
    if (e.reason_ == close_reason::none) e.reason_ = reason;
    // The session is suspended in a wait or a write: both end with
    // operation_aborted, and the session sees reason() and closes.
    boost::system::error_code ignored;
    e.socket_.cancel(ignored);
  });
}

std::size_t session_registry::close_idle(clock::time_point cutoff) {
  const auto limit = cutoff.time_since_epoch().count();
  const std::lock_guard lock(mutex_);
  std::size_t asked = 0;
  for (const auto& [id, e] : entries_) {
    if (e->last_activity_.load(std::memory_order_relaxed) <= limit) {
      request_close(id, e->executor_, close_reason::idle);
      ++asked;
    }
  }
  return asked;
}

void session_registry::close_all() {
  const std::lock_guard lock(mutex_);
  closing_all_ = true;
  for (const auto& [id, e] : entries_) request_close(id, e->executor_, close_reason::shutdown);
}

} // namespace echo
