#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace echo {

// A socket systemd passed us (socket activation), checked for what it is.
struct inherited_socket {
  enum class kind { tcp, udp, tls };
  int fd = -1;
  std::string name; // FileDescriptorName= (or --fdname), "" when none
  kind type = kind::tcp;
};

// The sockets of LISTEN_FDS/LISTEN_PID, in order; empty when the process
// was not socket-activated. The variables are then unset, so nothing this
// process starts inherits them. Each must be a listening TCP socket or a
// bound, unconnected UDP socket, IPv4 or IPv6 (one named "tls": a listening
// TCP socket for TLS). A descriptor the kernel cannot describe (closed, not a
// socket) throws std::system_error with the failing call's errno; any other
// kind (an unbound or connected UDP socket, a UNIX socket) throws
// runtime_failure; both name the descriptor ("inherited descriptor 4 (name
// 'x'): ...").
std::vector<inherited_socket> take_inherited_sockets();

// "descriptor 3 (name 'tcp')", for the log.
std::string describe(const inherited_socket& socket);

// Tells systemd our state (sd_notify: "READY=1", "STOPPING=1",
// "STATUS=..."); does nothing when NOTIFY_SOCKET is unset.
void notify_systemd(std::string_view state);

// Whether a notification would go anywhere (NOTIFY_SOCKET is set).
bool systemd_is_listening();

} // namespace echo
