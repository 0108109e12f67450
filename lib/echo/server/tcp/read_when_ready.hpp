#pragma once

// async_read_when_ready: a plain TCP session's wait-and-read. It waits until
// the socket has data, borrows a buffer from buffer_pool and reads into it,
// as one reactor operation (async_when_ready, when_ready.hpp): an idle
// session holds no buffer (a read that finds nothing gives it back), and a
// session waits without an epoll re-arm, because each read says whether the
// socket is drained. Per ping-pong message: one recvmsg, one send, and
// epoll_wait now and then, as in a hand-written epoll loop.
//
// The result is (error_code, bytes read into `lease`). On eof and errors
// `lease` may hold a buffer with nothing in it.

#include "echo/server/reactor/when_ready.hpp"
#include "echo/server/sockets/control_messages.hpp"
#include "echo/server/tcp/buffer_pool.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <span>
#include <utility>

namespace echo {
namespace read_when_ready_detail {

namespace asio = boost::asio;

// A recvmsg() into a buffer that also asks how much is left. With TCP_INQ set
// on the socket (echo-server sets it on its listeners; accepted sockets
// inherit it), Linux adds to every read a control message with the bytes
// still queued after it, and a non-zero count when a FIN is waiting. That
// tells a drained socket from a read cut short (by a FIN or an urgent mark
// behind the data) at no cost; a short read alone cannot, and trusting it
// would leave a session waiting for an edge that already came.
class inq_message {
public:
  explicit inq_message(std::span<std::byte> buffer) noexcept : part_{buffer.data(), buffer.size()} {
    header_.msg_iov = &part_;
    header_.msg_iovlen = 1;
    header_.msg_control = control_.data();
    header_.msg_controllen = control_.size();
  }
  inq_message(const inq_message&) = delete;
  inq_message& operator=(const inq_message&) = delete;

  msghdr* header() noexcept { return &header_; }

  // After a read: true only when the kernel said that nothing is left.
  // Without the count (TCP_INQ not set) the socket counts as not drained,
  // and the next read is tried at once: correct, one system call dearer.
  bool nothing_left() const noexcept {
    int left = 0;
    return control_messages::find(std::span<const std::byte>(control_), header_.msg_controllen, IPPROTO_TCP, TCP_CM_INQ,
                                  left) &&
           left == 0;
  }

private:
  iovec part_;
  msghdr header_{};
  alignas(cmsghdr) std::array<std::byte, control_messages::space(sizeof(int))> control_{};
};

// One try: borrow the buffer if needed, read, and say whether the socket is
// drained; give the buffer back if there was nothing.
struct lease_reader {
  int descriptor;
  buffer_pool::lease* lease;

  read_result operator()() const {
    if (!*lease) *lease = buffer_pool::acquire();
    inq_message message(lease->bytes());
    ssize_t got = 0;
    do {
      got = ::recvmsg(descriptor, message.header(), MSG_DONTWAIT);
    } while (got < 0 && errno == EINTR);
    if (got > 0) {
      const auto state = message.nothing_left() ? read_result::state::drained : read_result::state::read;
      return {state, static_cast<std::size_t>(got), {}};
    }
    if (got == 0) return {read_result::state::drained, 0, asio::error::eof};
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *lease = {}; // waiting: no buffer held
      return {};
    }
    return {read_result::state::read, 0, boost::system::error_code(errno, asio::error::get_system_category())};
  }
};

} // namespace read_when_ready_detail

// Completes with (error_code, std::size_t): the bytes now at the start of
// `lease`. `lease` must outlive the operation; it is empty while the
// operation waits.
template <typename Token>
auto async_read_when_ready(boost::asio::ip::tcp::socket& socket, buffer_pool::lease& lease, Token&& token) {
  return async_when_ready(socket, read_when_ready_detail::lease_reader{socket.native_handle(), &lease},
                          std::forward<Token>(token));
}

} // namespace echo
