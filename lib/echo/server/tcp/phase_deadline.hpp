#pragma once

#include "echo/common/asio.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

namespace echo {

// Cancels a socket's operations when `limit` runs out first: the bound on
// one phase of a session (its PROXY header, its TLS handshake, its
// close_notify). The timer runs on the session's executor, so its handler
// and the session never run at once; once the phase is over (this object
// is gone) a handler already queued does nothing.
class phase_deadline {
public:
  phase_deadline(boost::asio::ip::tcp::socket& socket, const asio::any_io_executor& executor,
                 std::chrono::steady_clock::duration limit)
      : timer_(executor, limit) {
    timer_.async_wait([&socket, state = state_](const error_code& ec) {
      if (ec || !state->active) return;
      state->expired = true;
      error_code ignored;
      socket.cancel(ignored);
    });
  }
  phase_deadline(const phase_deadline&) = delete;
  phase_deadline& operator=(const phase_deadline&) = delete;
  ~phase_deadline() {
    state_->active = false;
    timer_.cancel();
  }
  bool expired() const { return state_->expired; }

private:
  struct state {
    bool active = true;
    bool expired = false;
  };
  std::shared_ptr<state> state_ = std::make_shared<state>();
  asio::steady_timer timer_;
};
} // namespace echo
