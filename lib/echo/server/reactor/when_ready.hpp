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
// operation_aborted, as for any Asio operation on the socket. So does a
// cancellation slot bound to the handler (bind_cancellation_slot, or the
// slot a coroutine gives its operations, which is how
// `co_await (async_when_ready(...) || timer.async_wait(...))` stops the
// loser): a terminal, partial or total cancellation takes just this
// operation off the socket's read queue, as it does for Asio's own socket
// operations. Total cancellation promises that nothing happened; a waiting
// operation's reader has only found nothing so far, so that holds as long
// as a reader that finds nothing changes nothing (both readers here give
// back what they took). Either way the reader is not called again, and a
// cancelled operation leaves the socket as it was: the next one waits or
// reads as usual.
//
// Handler tracking: with BOOST_ASIO_ENABLE_HANDLER_TRACKING the operation
// is logged like Asio's own ("socket", "async_when_ready"), each try of the
// reader as a reactor operation ("when_ready_reader").
//
// Written against Boost 1.81's detail headers; the build stops on any other
// Boost (see the #error below).

#include "echo/server/reactor/socket_internals.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/version.hpp>

// Every piece of boost::asio::detail used here is Asio's private code and
// may change in any release; the message lists what must still hold. It
// comes before the detail headers, which may be gone on another Boost.
#if BOOST_VERSION != 108100
#error "when_ready.hpp is written for Boost 1.81 (BOOST_VERSION 108100). Before changing this check, re-read in \
the new Boost: detail/reactor_op.hpp (the ec_, bytes_transferred_ and cancellation_key_ members, the constructor \
and the not_done/done/done_and_exhausted meaning), epoll_reactor's start_op (the speculative try and when \
done_and_exhausted stops the next one) and cancel_ops_by_key, and how reactive_socket_recv_op and \
reactive_socket_service_base allocate, track, register for cancellation and complete their operations."
#endif

// After the public headers, which declare what these use.
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
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
    if (result.what == read_result::state::would_block) {
      // Logged as Asio logs a receive that found nothing.
      BOOST_ASIO_HANDLER_REACTOR_OPERATION((*op, "when_ready_reader", boost::asio::error::would_block, std::size_t{0}));
      return not_done;
    }
    op->ec_ = result.error;
    op->bytes_transferred_ = result.count;
    BOOST_ASIO_HANDLER_REACTOR_OPERATION((*op, "when_ready_reader", op->ec_, op->bytes_transferred_));
    return result.what == read_result::state::drained ? done_and_exhausted : done;
  }

  // Called by the scheduler when the operation is done (`owner` set) or
  // destroyed unfinished (`owner` null): hands the result to the handler the
  // way every Asio operation does, freeing the operation's memory first.
  static void do_complete(void* owner, internals::operation* base, const boost::system::error_code& /*unused*/,
                          std::size_t /*unused*/) {
    auto* op = static_cast<when_ready_op*>(base);
    ptr allocation = {internals::addressof(op->handler_), op, op};
    // Declares the tracking record, which also notes an operation destroyed
    // without being called (nothing without handler tracking).
    BOOST_ASIO_HANDLER_COMPLETION((*op));
    internals::handler_work<Handler, IoExecutor> work(std::move(op->work_));
    // Records this completion as the error's source location (what
    // error_code::location() shows), as Asio's operations do.
    BOOST_ASIO_ERROR_LOCATION(op->ec_);
    internals::binder2<Handler, boost::system::error_code, std::size_t> call(op->handler_, op->ec_,
                                                                             op->bytes_transferred_);
    allocation.h = internals::addressof(call.handler_);
    allocation.reset();
    if (owner != nullptr) {
      const internals::fenced_block fence(internals::fenced_block::half);
      BOOST_ASIO_HANDLER_INVOCATION_BEGIN((call.arg1_, call.arg2_));
      work.complete(call, call.handler_);
      BOOST_ASIO_HANDLER_INVOCATION_END;
    }
  }

private:
  Reader reader_;
  Handler handler_;
  internals::handler_work<Handler, IoExecutor> work_;
};

// What a handler's cancellation slot holds while an operation may be
// waiting: on a cancellation that Asio's socket operations accept, it asks
// the reactor to abort the read operations whose key is this object's
// address, which is only the one operation it was installed for (the slot
// holds one handler at a time). Like Asio's, it stays in the slot after the
// operation completes; a later emission then finds nothing to cancel, as
// long as the socket still exists (the same rule as for Asio's own).
class when_ready_cancellation {
public:
  when_ready_cancellation(internals::reactor& reactor, internals::reactor::per_descriptor_data& registration,
                          internals::socket_type descriptor) noexcept
      : reactor_(&reactor), registration_(&registration), descriptor_(descriptor) {}

  void operator()(boost::asio::cancellation_type_t type) {
    constexpr auto accepted = boost::asio::cancellation_type::terminal | boost::asio::cancellation_type::partial |
                              boost::asio::cancellation_type::total;
    if ((type & accepted) == boost::asio::cancellation_type::none) return;
    reactor_->cancel_ops_by_key(descriptor_, *registration_, internals::reactor::read_op, this);
  }

private:
  internals::reactor* reactor_;
  // The socket's own registration pointer, read when the cancellation comes:
  // close() empties it (then there is nothing to cancel), and a copy taken
  // now could by then point at a registration reused by another socket.
  internals::reactor::per_descriptor_data* registration_;
  internals::socket_type descriptor_;
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
    // Taken before the handler moves into the operation.
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    typename op::ptr allocation = {internals::addressof(handler), op::ptr::allocate(handler), nullptr};
    allocation.p = new (allocation.v) op(std::move(initial), handler, socket.get_executor());
    // (The tracker takes the descriptor as an unsigned number.)
    BOOST_ASIO_HANDLER_CREATION((reactor.context(), *allocation.p, "socket", &implementation,
                                 static_cast<std::uintmax_t>(implementation.socket_), "async_when_ready"));
    // Installed before the operation starts, so that it can be cancelled as
    // soon as it waits; the cancellation handler's address is the key that
    // tells this operation from any other waiting on the socket.
    if (slot.is_connected()) {
      allocation.p->cancellation_key_ = &slot.template emplace<when_ready_detail::when_ready_cancellation>(
          reactor, implementation.reactor_data_, implementation.socket_);
    }
    reactor.start_op(internals::reactor::read_op, implementation.socket_, implementation.reactor_data_, allocation.p,
                     is_continuation, /*allow_speculative=*/true);
    allocation.v = allocation.p = nullptr;
  };
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(initiation, token,
                                                                                          std::move(reader));
}

} // namespace echo
