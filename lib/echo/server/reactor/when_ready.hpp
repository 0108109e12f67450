#pragma once

// async_when_ready: wait until a socket is readable and read from it, as one
// operation of Asio's reactor, with the read done by the caller's `Reader`.
//
// Why: Asio 1.81's epoll reactor tries an operation at once when it starts
// ("speculatively") and, if that finds nothing, queues it without a system
// call; when an operation reports the socket drained, the next one is queued
// without even that try, and the edge-triggered registration wakes it when
// more comes. Its own operations do not fit an echo server: async_wait is
// never tried first and re-arms the descriptor with an EPOLL_CTL_MOD every
// time (a third system call per TCP message), and a receive reports
// "drained" only at EOF, so before every wait it costs a read that finds
// nothing. Here the reader says when the socket is drained, because it can
// know (TCP_INQ for TCP, read_when_ready.hpp; fewer datagrams than asked for
// UDP, udp_endpoint.cpp), and it reads into memory of its choosing (a TCP
// session borrows a buffer only once there is something to read).
//
// Asio has no public way to add an operation to its reactor, so this is
// built from Asio's own pieces (boost::asio::detail: reactor_op, the handler
// allocation and work tracking every Asio operation uses) the way Asio's
// reactive_socket_recv_op is, and reaches the socket's registration through
// socket_internals.hpp, which holds for the epoll reactor only.
//
// Cancellation: socket.cancel() and close() end the operation with
// operation_aborted, as for any Asio operation on the socket; per-operation
// cancellation slots are not supported.

#include "echo/server/reactor/socket_internals.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace echo {

// What one try of a Reader found.
struct read_result {
  enum class state {
    would_block, // nothing yet: the operation waits
    read,        // done; there may be more (the next operation tries at once)
    drained,     // done, and nothing is left (the next operation waits first)
  };
  state what = state::would_block;
  std::size_t count = 0;             // what the operation completes with
  boost::system::error_code error{}; // likewise (with read or drained)
};

namespace when_ready_detail {

namespace internals = boost::asio::detail;

template <typename Reader, typename Handler, typename IoExecutor>
class when_ready_op : public internals::reactor_op {
public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(when_ready_op);

  when_ready_op(Reader reader, Handler& handler, const IoExecutor& io_executor)
      : reactor_op(boost::system::error_code(), &when_ready_op::do_perform, &when_ready_op::do_complete),
        reader_(std::move(reader)), handler_(std::move(handler)), work_(handler_, io_executor) {}

  // Called by the reactor: once when the operation starts (unless the last
  // one said the socket was drained), then on each readiness event until it
  // returns something other than not_done.
  static status do_perform(reactor_op* base) {
    auto* op = static_cast<when_ready_op*>(base);
    const read_result result = op->reader_();
    if (result.what == read_result::state::would_block) return not_done;
    op->ec_ = result.error;
    op->bytes_transferred_ = result.count;
    return result.what == read_result::state::drained ? done_and_exhausted : done;
  }

  // Called by the scheduler when the operation is done (`owner` set) or
  // destroyed unfinished (`owner` null): hands the result to the handler the
  // way every Asio operation does, freeing the operation's memory first.
  static void do_complete(void* owner, internals::operation* base, const boost::system::error_code& /*unused*/,
                          std::size_t /*unused*/) {
    auto* op = static_cast<when_ready_op*>(base);
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
  Reader reader_;
  Handler handler_;
  internals::handler_work<Handler, IoExecutor> work_;
};

} // namespace when_ready_detail

// Completes with (error_code, std::size_t), as the first `reader()` that did
// not return would_block said. `reader` is copied into the operation and
// called by the reactor (under the descriptor's lock, on a thread running
// the io_context), never after the operation completed.
template <typename Socket, typename Reader, typename Token>
auto async_when_ready(Socket& socket, Reader reader, Token&& token) {
  auto initiation = [&socket](auto handler, Reader initial) {
    using handler_type = std::decay_t<decltype(handler)>;
    using op = when_ready_detail::when_ready_op<Reader, handler_type, typename Socket::executor_type>;
    namespace internals = boost::asio::detail;
    auto& implementation = socket_internals::implementation(socket);
    auto& reactor = socket_internals::reactor_of(socket);
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    typename op::ptr allocation = {internals::addressof(handler), op::ptr::allocate(handler), nullptr};
    allocation.p = new (allocation.v) op(std::move(initial), handler, socket.get_executor());
    reactor.start_op(internals::reactor::read_op, implementation.socket_, implementation.reactor_data_, allocation.p,
                     is_continuation, /*allow_speculative=*/true);
    allocation.v = allocation.p = nullptr;
  };
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(initiation, token,
                                                                                          std::move(reader));
}

} // namespace echo
