#pragma once

// Ancillary data (cmsg) of recvmsg() and sendmsg(), read and written without
// the CMSG_* macros, which are C casts (and so warnings in this build).

#include <sys/socket.h>

#include <cstddef>
#include <cstring>
#include <span>

namespace echo::control_messages {

// CMSG_ALIGN.
constexpr std::size_t align(std::size_t n) {
  return (n + sizeof(std::size_t) - 1) / sizeof(std::size_t) * sizeof(std::size_t);
}
// Where a message's data starts, after its header (CMSG_LEN(0)).
constexpr std::size_t data_offset = align(sizeof(cmsghdr));
// The room one message with `bytes` of data takes (CMSG_SPACE).
constexpr std::size_t space(std::size_t bytes) { return data_offset + align(bytes); }

// Copies the data of the first message of `level` and `type` in what a
// receive filled (`used` bytes of `control`) into `out`; false if there is
// none, or it is shorter than `out`.
template <class T>
bool find(std::span<const std::byte> control, std::size_t used, int level, int type, T& out) {
  std::size_t offset = 0;
  while (offset + data_offset <= used && offset + data_offset <= control.size()) {
    cmsghdr header{};
    std::memcpy(&header, control.data() + offset, sizeof header);
    if (header.cmsg_len < data_offset || offset + header.cmsg_len > used) return false;
    if (header.cmsg_level == level && header.cmsg_type == type) {
      if (header.cmsg_len < data_offset + sizeof(T)) return false;
      std::memcpy(&out, control.data() + offset + data_offset, sizeof(T));
      return true;
    }
    offset += align(header.cmsg_len);
  }
  return false;
}

// Writes one message of `level` and `type` carrying `data` at the start of
// `control`; returns the bytes to pass as msg_controllen (0 if no room).
template <class T>
std::size_t put(std::span<std::byte> control, int level, int type, const T& data) {
  if (control.size() < space(sizeof(T))) return 0;
  cmsghdr header{};
  header.cmsg_len = data_offset + sizeof(T);
  header.cmsg_level = level;
  header.cmsg_type = type;
  std::memset(control.data(), 0, space(sizeof(T)));
  std::memcpy(control.data(), &header, sizeof header);
  std::memcpy(control.data() + data_offset, &data, sizeof(T));
  return space(sizeof(T));
}

} // namespace echo::control_messages
