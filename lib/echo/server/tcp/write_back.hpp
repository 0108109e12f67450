#pragma once

// The write side of an echo session, plain or TLS: what was read goes back
// in order, at once when the socket takes it, else with backpressure.

#include "echo/common/asio.hpp"
#include "echo/server/tcp/session_record.hpp"
#include "echo/server/tcp/session_registry.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <span>

namespace echo {

// Writes data[written, size) back, waiting while the peer is slow to read,
// and not reading meanwhile (backpressure). Every part it takes is
// progress: a slow reader is not idle. Plain and TLS sessions both end up
// here.
template <class Stream>
asio::awaitable<error_code> write_back(Stream& stream, const std::byte* data, std::size_t size, std::size_t written,
                                       session_registry::entry& entry, session_record& record) {
  error_code ec;
  while (!ec && written < size) {
    auto [write_ec, n] = co_await stream.async_write_some(asio::buffer(data + written, size - written), nothrow);
    ec = write_ec;
    written += n;
    record.sent(n);
    if (n > 0) entry.touch();
  }
  co_return ec;
}

// Writes back what was just read, without waiting, as an epoll loop would:
// most echoes need no wait at all. A plain send() with MSG_DONTWAIT on the
// descriptor: the socket is never switched to non-blocking mode, which would
// cost an ioctl per session (Asio's own writes set it themselves, only if a
// session ever needs one). `written` is what went out; EAGAIN is no error.
inline error_code send_now(boost::asio::ip::tcp::socket& socket, std::span<const std::byte> data,
                           std::size_t& written) {
  written = 0;
  ssize_t sent = 0;
  do {
    sent = ::send(socket.native_handle(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent >= 0) {
    written = static_cast<std::size_t>(sent);
    return {};
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
  return {errno, asio::error::get_system_category()};
}
} // namespace echo
