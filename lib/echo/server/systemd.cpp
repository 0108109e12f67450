#include "echo/server/systemd.hpp"

#include "echo/server/exit_codes.hpp"

#include <boost/asio/ip/udp.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <system_error>

namespace echo {
namespace {

std::string where(const inherited_socket& socket) { return "inherited " + describe(socket) + ": "; }

// A call that failed: its own errno, never a stand-in.
[[noreturn]] void failed(const inherited_socket& socket, const char* call, int error) {
  throw std::system_error(error, std::generic_category(), where(socket) + call);
}

// A socket that works but cannot be served as systemd meant it.
[[noreturn]] void refuse(const inherited_socket& socket, const std::string& why) {
  throw runtime_failure(where(socket) + why);
}

int socket_option(const inherited_socket& socket, int name, const char* call) {
  int value = 0;
  socklen_t length = sizeof value;
  if (::getsockopt(socket.fd, SOL_SOCKET, name, &value, &length) != 0) failed(socket, call, errno);
  return value;
}

std::string text_of(const sockaddr_storage& address, socklen_t length) {
  boost::asio::ip::udp::endpoint endpoint;
  std::memcpy(endpoint.data(), &address, std::min<std::size_t>(length, endpoint.capacity()));
  endpoint.resize(std::min<std::size_t>(length, endpoint.capacity()));
  std::ostringstream out;
  out << endpoint;
  return out.str();
}

// What an inherited descriptor is, asked of the kernel: a closed descriptor
// or one that is not a socket fails the first call with its own errno.
inherited_socket::kind kind_of(const inherited_socket& socket) {
  const int type = socket_option(socket, SO_TYPE, "getsockopt(SO_TYPE)");
  const int family = socket_option(socket, SO_DOMAIN, "getsockopt(SO_DOMAIN)");
  const bool inet = family == AF_INET || family == AF_INET6;
  if (type == SOCK_STREAM && inet && socket_option(socket, SO_ACCEPTCONN, "getsockopt(SO_ACCEPTCONN)") != 0)
    return socket.name == "tls" ? inherited_socket::kind::tls : inherited_socket::kind::tcp;
  if (socket.name == "tls") refuse(socket, "named tls, but not a listening TCP socket");
  if (type != SOCK_DGRAM || !inet) refuse(socket, "not a listening TCP socket or a UDP socket (IPv4 or IPv6)");

  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(socket.fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    failed(socket, "getsockname", errno);
  const auto port = family == AF_INET ? reinterpret_cast<const sockaddr_in&>(address).sin_port
                                      : reinterpret_cast<const sockaddr_in6&>(address).sin6_port;
  if (port == 0) refuse(socket, "a UDP socket bound to no port, which would be served as " + text_of(address, length));
  length = sizeof address;
  if (::getpeername(socket.fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    refuse(socket, "a connected UDP socket, which would answer " + text_of(address, length) + " alone");
  if (errno != ENOTCONN) failed(socket, "getpeername", errno);
  return inherited_socket::kind::udp;
}

} // namespace

std::vector<inherited_socket> take_inherited_sockets() {
  const char* announced = std::getenv("LISTEN_FDS"); // (unset by the call below)
  const int count = announced ? std::atoi(announced) : 0;
  char** names = nullptr;
  // unset_environment = 1: LISTEN_* are ours alone, not our children's.
  const int n = sd_listen_fds_with_names(1, &names);
  if (n < 0) {
    // Name the descriptor that failed, when one of them was not open.
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + std::min(count, 1024); ++fd)
      if (::fcntl(fd, F_GETFD) < 0) failed(inherited_socket{fd, {}, {}}, "fcntl(F_GETFD)", errno);
    throw std::system_error(-n, std::generic_category(), "cannot take the sockets systemd passed");
  }
  std::vector<inherited_socket> sockets;
  for (int i = 0; i < n; ++i) {
    inherited_socket socket;
    socket.fd = SD_LISTEN_FDS_START + i;
    if (names && names[i] && std::strcmp(names[i], "unknown") != 0) socket.name = names[i];
    sockets.push_back(std::move(socket));
  }
  if (names) {
    for (int i = 0; i < n; ++i) std::free(names[i]);
    std::free(names);
  }
  for (auto& socket : sockets) socket.type = kind_of(socket);
  return sockets;
}

std::string describe(const inherited_socket& socket) {
  auto text = "descriptor " + std::to_string(socket.fd);
  if (!socket.name.empty()) text += " (name '" + socket.name + "')";
  return text;
}

void notify_systemd(std::string_view state) {
  if (!systemd_is_listening()) return;
  sd_notify(0, std::string(state).c_str());
}

bool systemd_is_listening() {
  const char* where = std::getenv("NOTIFY_SOCKET");
  return where && *where;
}

} // namespace echo
