#pragma once

#include <spdlog/common.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace echo {

enum class transport { tcp, udp };
enum class address_family { any, v4, v6 };

// What the load generator is asked to do (--bench).
struct bench_config {
  std::size_t connections = 1; // TCP connections or UDP sockets
  std::size_t size = 64;       // bytes per message
  std::chrono::milliseconds duration{5000};
  std::size_t pipeline = 1;         // messages in flight per connection
  double rate = 0;                  // target messages/s over all connections; 0 = as fast as possible
  std::vector<std::string> sources; // local addresses to connect from (round robin)
  bool json = false;
  bool churn = false;    // a new connection for every message (TCP)
  bool progress = false; // --progress: progress lines on stderr even when it is not a terminal
};

// --tls and what goes with it.
struct tls_options {
  std::string ca;         // --tls-ca: trust these CAs instead of the system's
  bool insecure = false;  // --insecure: no verification at all
  std::string servername; // --servername: SNI and the name checked; default HOST
  std::string cert;       // --cert, --key: a client certificate (mutual TLS)
  std::string key;
};

// Everything echo-client can be told. Filled and validated only by
// parse_client_config().
struct client_config {
  transport protocol = transport::tcp;
  std::string host = "localhost";
  std::uint16_t port = 9001;
  std::optional<std::string> message; // -m
  bool check = false;
  bool probe = false;     // -z: only whether the port answers
  bool half_close = true; // -m over TCP: shut down our sending side after the message
  std::chrono::milliseconds timeout{5000};
  std::optional<bench_config> bench;
  spdlog::level::level_enum log_level = spdlog::level::warn;
  address_family family = address_family::any; // -4, -6
  std::vector<std::string> merge;              // --merge FILE...: combine --bench --json reports, no network
  bool json = false;                           // --json with --merge
  std::string json_out;                        // --json-out FILE: also write the report (JSON) there
  int proxy_header = 0;                        // --proxy-header v1|v2: 1 or 2; 0 = none
  std::optional<tls_options> tls;              // --tls: TCP over TLS
};

struct client_command {
  enum class action { run, help, version };
  action what = action::run;
  client_config config;
  std::string text;
};

// Throws usage_error naming the option and the bad value.
client_command parse_client_config(const std::vector<std::string>& args);

} // namespace echo
