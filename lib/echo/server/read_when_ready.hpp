#pragma once

// async_read_when_ready: wait until a TCP socket has data, then read it into
// a pooled buffer, as one reactor operation.
//
// Why not async_wait and then recv()? Because of what Asio 1.81's epoll
// reactor does with each: a wait is never tried before it is queued, so
// every async_wait re-arms the descriptor with an EPOLL_CTL_MOD, a third
// system call per echoed message next to the recv and the send. A read, on
// the other hand, is first tried at once ("speculatively"); when it finds
// nothing it is queued without any system call, and when it finds the socket
// drained it tells the reactor so, and the next read is queued without even
// trying. That is what an epoll loop does: one recv and one send per message.
//
// Why not async_read_some then? Because it needs its buffer for as long as it
// waits, and an idle session must hold none (the server keeps 2 KiB per idle
// connection, not 66). This operation borrows a buffer from buffer_pool only
// when it reads, and gives it back when the read finds nothing; the caller
// returns it when the socket is drained.
//
// Asio has no public way to add an operation to its reactor, so this uses
// Asio's own building blocks (boost::asio::detail: reactor_op, the handler
// allocation and work tracking every Asio operation uses) the way Asio's
// reactive_socket_recv_op does, and reaches the socket's registration
// through socket_internals.hpp. It holds for the epoll reactor Boost 1.81
// uses on Linux; socket_internals.hpp stops the build anywhere else.
//
// The result is (error_code, bytes read into `lease`). On eof and errors
// `lease` may hold a buffer with nothing in it. Cancellation: socket.cancel()
// and close() end it with operation_aborted, as for any Asio operation on the
// socket; per-operation cancellation slots are not supported.

#include "echo/server/buffer_pool.hpp"
#include "echo/server/socket_internals.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

namespace echo {
namespace read_when_ready_detail {

namespace asio = boost::asio;
namespace internals = boost::asio::detail;
using socket_internals::implementation;
using socket_internals::reactor_of;

// A recvmsg() into a buffer that also asks how much is left. With TCP_INQ set
// on the socket (echo-server sets it on its listeners; accepted sockets
// inherit it), Linux adds to every read a control message with the bytes
// still queued after it, and a non-zero count when a FIN is waiting. That
// tells a drained socket from a read cut short (by a FIN or an urgent mark
// behind the data) at no cost; a short read alone cannot, and trusting it
// would leave a session waiting for an edge that already came.
// CMSG_ALIGN, spelled out (the macro is a C cast).
constexpr std::size_t cmsg_align(std::size_t n) {
  return (n + sizeof(std::size_t) - 1) / sizeof(std::size_t) * sizeof(std::size_t);
}

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
    if (header_.msg_controllen < data_offset + sizeof(int)) return false;
    cmsghdr first{};
    std::memcpy(&first, control_.data(), sizeof first);
    if (first.cmsg_level != IPPROTO_TCP || first.cmsg_type != TCP_CM_INQ) return false;
    int left = 0;
    std::memcpy(&left, control_.data() + data_offset, sizeof left);
    return left == 0;
  }

private:
  static constexpr std::size_t data_offset = cmsg_align(sizeof(cmsghdr));

  iovec part_;
  msghdr header_{};
  alignas(cmsghdr) std::array<unsigned char, data_offset + cmsg_align(sizeof(int))> control_{};
};

template <typename Handler, typename IoExecutor>
class read_when_ready_op : public internals::reactor_op {
public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(read_when_ready_op);

  read_when_ready_op(int descriptor, buffer_pool::lease& lease, Handler& handler, const IoExecutor& io_executor)
      : reactor_op(boost::system::error_code(), &read_when_ready_op::do_perform, &read_when_ready_op::do_complete),
        descriptor_(descriptor), lease_(lease), handler_(std::move(handler)), work_(handler_, io_executor) {}

  // Called by the reactor: once when the operation starts (unless the last
  // read said the socket was drained), then on each readiness event until it
  // returns something other than not_done. Runs under the descriptor's lock.
  static status do_perform(reactor_op* base) {
    auto* op = static_cast<read_when_ready_op*>(base);
    auto& lease = op->lease_;
    if (!lease) lease = buffer_pool::acquire();
    inq_message message(lease.bytes());
    ssize_t got = 0;
    do {
      got = ::recvmsg(op->descriptor_, message.header(), MSG_DONTWAIT);
    } while (got < 0 && errno == EINTR);
    if (got > 0) {
      op->bytes_transferred_ = static_cast<std::size_t>(got);
      // Drained: the next read is queued without being tried (and the
      // reactor, edge-triggered, wakes it when more comes).
      return message.nothing_left() ? done_and_exhausted : done;
    }
    if (got == 0) {
      op->ec_ = asio::error::eof;
      return done_and_exhausted;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      lease = {}; // waiting: no buffer held
      return not_done;
    }
    op->ec_ = boost::system::error_code(errno, asio::error::get_system_category());
    return done;
  }

  // Called by the scheduler when the operation is done (`owner` set) or
  // destroyed unfinished (`owner` null): hands the result to the handler the
  // way every Asio operation does, freeing the operation's memory first.
  static void do_complete(void* owner, internals::operation* base, const boost::system::error_code& /*unused*/,
                          std::size_t /*unused*/) {
    auto* op = static_cast<read_when_ready_op*>(base);
    ptr allocation = {internals::addressof(op->handler_), op, op};
    internals::handler_work<Handler, IoExecutor> work(std::move(op->work_));
    internals::binder2<Handler, boost::system::error_code, std::size_t> call(op->handler_, op->ec_,
                                                                             op->bytes_transferred_);
    allocation.h = internals::addressof(call.handler_);
    allocation.reset();
    if (owner != nullptr) {
      const internals::fenced_block fence(internals::fenced_block::half);
      work.complete(call, call.handler_);
    }
  }

private:
  int descriptor_;
  buffer_pool::lease& lease_;
  Handler handler_;
  internals::handler_work<Handler, IoExecutor> work_;
};

} // namespace read_when_ready_detail

// Completes with (error_code, std::size_t): the bytes now at the start of
// `lease`. `lease` must outlive the operation; it is empty while the
// operation waits.
template <typename Token>
auto async_read_when_ready(boost::asio::ip::tcp::socket& socket, buffer_pool::lease& lease, Token&& token) {
  namespace detail = read_when_ready_detail;
  auto initiation = [&socket, &lease](auto handler) {
    using handler_type = std::decay_t<decltype(handler)>;
    using op = detail::read_when_ready_op<handler_type, boost::asio::ip::tcp::socket::executor_type>;
    auto& implementation = detail::implementation(socket);
    auto& reactor = detail::reactor_of(socket);
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    typename op::ptr allocation = {detail::internals::addressof(handler), op::ptr::allocate(handler), nullptr};
    allocation.p = new (allocation.v) op(implementation.socket_, lease, handler, socket.get_executor());
    reactor.start_op(detail::internals::reactor::read_op, implementation.socket_, implementation.reactor_data_,
                     allocation.p, is_continuation, /*allow_speculative=*/true);
    allocation.v = allocation.p = nullptr;
  };
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(initiation, token);
}

} // namespace echo
