#include "echo/server/systemd.hpp"

#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <system_error>

namespace echo {
namespace {

[[noreturn]] void reject(const inherited_socket& socket, const std::string& why, int error = EINVAL) {
  throw std::system_error(error, std::generic_category(), "inherited " + describe(socket) + ": " + why);
}

bool is_inet(int fd, int type, int listening) { return sd_is_socket_inet(fd, AF_UNSPEC, type, listening, 0) > 0; }

} // namespace

std::vector<inherited_socket> take_inherited_sockets() {
  char** names = nullptr;
  // unset_environment = 1: LISTEN_* are ours alone, not our children's.
  const int n = sd_listen_fds_with_names(1, &names);
  if (n < 0) throw std::system_error(-n, std::generic_category(), "cannot take the sockets systemd passed");
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
  for (auto& socket : sockets) {
    if (socket.name == "tls") {
      if (!is_inet(socket.fd, SOCK_STREAM, 1)) reject(socket, "named tls, but not a listening TCP socket");
      socket.type = inherited_socket::kind::tls;
    } else if (is_inet(socket.fd, SOCK_STREAM, 1))
      socket.type = inherited_socket::kind::tcp;
    else if (is_inet(socket.fd, SOCK_DGRAM, -1))
      socket.type = inherited_socket::kind::udp;
    else
      reject(socket, "not a listening TCP socket or a UDP socket (IPv4 or IPv6)");
  }
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
