#pragma once

#include "echo/common/logging.hpp"
#include "echo/server/admission/cidr_list.hpp"
#include "echo/server/admission/port_filter.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace echo {

// The listen backlog the system allows at most (net.core.somaxconn).
int system_max_backlog();

// Where --metrics serves HTTP: an IP address (not a name) and a port.
struct http_address {
  std::string address; // "127.0.0.1", "::1", "::"
  std::uint16_t port = 0;
};

// "127.0.0.1:9100" or "[::1]:9100". Throws usage_error (without the
// option's name, which the caller adds).
http_address parse_http_address(const std::string& text);
std::string format_http_address(const http_address& address); // "[::1]:9100"

// Everything echo-server can be told, with the SPEC's defaults. Filled and
// validated only by parse_server_config(); every limit is a named field.
struct server_config {
  bool tcp = true;
  bool udp = true;
  // Empty: "::" dual stack, falling back to "0.0.0.0" where IPv6 is off.
  std::string bind_address;
  std::uint16_t port = 9001;
  int backlog = system_max_backlog();
  unsigned threads = 1;

  std::size_t max_connections = 10000;             // 0 = unlimited
  std::size_t max_connections_per_source = 0;      // 0 = unlimited; IPv6 counted per /64
  std::size_t tcp_buffer = 262144;                 // SO_SNDBUF and SO_RCVBUF per session; 0 = kernel autotuning
  std::chrono::milliseconds idle_timeout{300'000}; // 0 = never
  std::size_t max_datagram = 65507;
  port_filter udp_blocked_ports = port_filter::parse("0-1023");
  std::uint32_t udp_rate_limit = 1000; // datagrams/s per source, 0 = off
  bool udp_loop_damping = true;        // loop_damper: stop echo loops with another UDP service
  bool reuse_port = false;
  bool proxy_protocol = false;           // every TCP connection starts with a PROXY protocol header
  cidr_list proxy_trusted;               // with proxy_protocol: who may connect; empty = anyone
  std::optional<std::uint16_t> tls_port; // --tls-port: also serve echo over TLS (0: the OS picks)
  std::string tls_cert;                  // PEM chain; with tls_key, needed by any TLS listener
  std::string tls_key;
  std::string tls_client_ca; // set: mutual TLS, clients need a certificate from these CAs

  spdlog::level::level_enum log_level = spdlog::level::info;
  log_format format = log_format::text;
  std::chrono::milliseconds stats_interval{0}; // 0 = off
  std::chrono::milliseconds shutdown_timeout{5000};
  std::optional<http_address> metrics; // --metrics: off unless given
  std::string config_file;             // where settings came from, if any
};

struct server_command {
  enum class action { run, help, version };
  action what = action::run;
  server_config config;
  std::string text;                   // help or version text
  std::vector<std::string> set_aside; // Kubernetes service-link variables, recognised and ignored
};

// Command line, then ECHO_SERVER_* environment ("NAME=value" strings), then
// the config file, then defaults. Throws usage_error naming the option and
// the bad value.
server_command parse_server_config(const std::vector<std::string>& args, const std::vector<std::string>& environment);

// One line of "key=value" pairs: the effective configuration, for the log.
std::string describe(const server_config& config);

} // namespace echo
