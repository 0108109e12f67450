#include "echo/server/server_config.hpp"

#include "echo/common/duration_text.hpp"
#include "echo/common/option_values.hpp"
#include "echo/common/usage_error.hpp"
#include "echo/common/version.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/program_options.hpp>
#include <sys/socket.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace po = boost::program_options;

namespace echo {
namespace {

constexpr std::string_view env_prefix = "ECHO_SERVER_";

po::options_description make_options() {
  po::options_description opts("Options");
  // clang-format off
  opts.add_options()
    ("tcp", po::bool_switch(), "serve TCP (with neither --tcp nor --udp: both)")
    ("udp", po::bool_switch(), "serve UDP (with neither --tcp nor --udp: both)")
    ("bind", po::value<std::string>()->value_name("ADDR"),
     "address to listen on; :: is dual stack (default ::, or 0.0.0.0 where IPv6 is off)")
    ("port,p", po::value<std::int64_t>()->value_name("N")->default_value(9001),
     "port for TCP and UDP; 0 lets the OS choose")
    ("backlog", po::value<std::int64_t>()->value_name("N"),
     "listen backlog (default: the system maximum)")
    ("threads", po::value<std::int64_t>()->value_name("N")->default_value(1),
     "threads running the io_context; 0 = one per core")
    ("max-connections", po::value<std::int64_t>()->value_name("N")->default_value(10000),
     "open TCP sessions at once; 0 = unlimited")
    ("max-connections-per-source", po::value<std::int64_t>()->value_name("N")->default_value(0),
     "open TCP sessions from one client address (IPv6: its /64); 0 = unlimited")
    ("tcp-buffer", po::value<std::int64_t>()->value_name("BYTES")->default_value(262144),
     "cap on each TCP session's kernel send and receive buffers (the kernel doubles it for its "
     "bookkeeping); 0 = kernel autotuning")
    ("idle-timeout", po::value<double>()->value_name("S")->default_value(300, "300"),
     "close a TCP session with no traffic for S seconds; 0 = never")
    ("max-datagram", po::value<std::int64_t>()->value_name("N")->default_value(65507),
     "drop UDP datagrams larger than N bytes")
    ("udp-blocked-ports", po::value<std::string>()->value_name("LIST")->default_value("0-1023"),
     "drop datagrams from these source ports (ports and ranges); empty = none")
    ("udp-rate-limit", po::value<std::int64_t>()->value_name("N")->default_value(1000),
     "datagrams per second echoed to one source address; 0 = off")
    ("udp-loop-damping", po::value<std::string>()->value_name("on|off")->default_value("on"),
     "stop echo loops with another UDP service: a peer that sends our echo back at once, again and again")
    ("reuse-port", po::bool_switch(), "set SO_REUSEPORT so several processes can share the port")
    ("proxy-protocol", po::bool_switch(),
     "every TCP connection starts with a PROXY protocol v1 or v2 header (from a load balancer)")
    ("proxy-trusted", po::value<std::string>()->value_name("LIST"),
     "with --proxy-protocol: the only addresses allowed to connect, as CIDRs (10.0.0.0/8,::1/128)")
    ("tls-port", po::value<std::int64_t>()->value_name("N"),
     "also serve echo over TLS on port N (TCP); needs --tls-cert and --tls-key")
    ("tls-cert", po::value<std::string>()->value_name("FILE"),
     "PEM certificate chain for TLS, the server's certificate first (SIGHUP reloads it)")
    ("tls-key", po::value<std::string>()->value_name("FILE"), "PEM private key for TLS (SIGHUP reloads it)")
    ("tls-client-ca", po::value<std::string>()->value_name("FILE"),
     "mutual TLS: require client certificates issued by these PEM CA certificates")
    ("log-level", po::value<std::string>()->value_name("L")->default_value("info"),
     "trace, debug, info, warn, error, critical, off")
    ("log-format", po::value<std::string>()->value_name("F")->default_value("text"), "text or json")
    ("stats-interval", po::value<double>()->value_name("S")->default_value(0, "0"),
     "log a line of counters every S seconds; 0 = off")
    ("metrics", po::value<std::string>()->value_name("ADDR:PORT"),
     "serve /metrics (Prometheus), /healthz and /readyz over HTTP here, e.g. 127.0.0.1:9100 or [::1]:9100")
    ("shutdown-timeout", po::value<double>()->value_name("S")->default_value(5, "5"),
     "how long a graceful stop waits for open sessions")
    ("config,c", po::value<std::string>()->value_name("FILE"), "INI file with the same keys")
    ("help,h", "print this help and exit")
    ("version,V", "print the version and exit");
  // clang-format on
  return opts;
}

// Variables Kubernetes sets for a Service named echo-server (service
// links): ECHO_SERVER_SERVICE_HOST, ECHO_SERVER_SERVICE_PORT[_NAME],
// ECHO_SERVER_PORT=tcp://10.0.0.1:9001, ECHO_SERVER_PORT_9001_TCP[_PROTO|_PORT|_ADDR].
bool is_service_link(std::string_view key, std::string_view value) {
  if (key == "SERVICE_HOST" || key == "SERVICE_PORT" || key.starts_with("SERVICE_PORT_")) return true;
  if (key == "PORT") return value.starts_with("tcp://") || value.starts_with("udp://") || value.starts_with("sctp://");
  if (!key.starts_with("PORT_")) return false;
  const auto rest = key.substr(5);
  const auto digits = rest.find_first_not_of("0123456789");
  return digits != 0 && digits != std::string_view::npos && rest.substr(digits).starts_with("_");
}

// ECHO_SERVER_IDLE_TIMEOUT=5 -> idle-timeout=5. An ECHO_SERVER_ variable
// that names no option is a mistake worth stopping for, except the ones
// Kubernetes injects, which are set aside.
po::parsed_options parse_environment(const po::options_description& opts, const std::vector<std::string>& environment,
                                     options::origins& origins, std::vector<std::string>& ignored) {
  po::parsed_options parsed(&opts);
  for (const auto& entry : environment) {
    if (!entry.starts_with(env_prefix)) continue;
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const auto variable = entry.substr(0, eq);
    const auto suffix = std::string_view(variable).substr(env_prefix.size());
    const auto value = entry.substr(eq + 1);
    if (is_service_link(suffix, value)) {
      ignored.push_back(variable);
      continue;
    }
    std::string key(suffix);
    for (auto& c : key) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // Only an option's exact long name: no prefixes, no short names.
    const auto* option = opts.find_nothrow(key, false);
    if (key == "help" || key == "version" || option == nullptr || option->long_name() != key)
      throw usage_error("environment variable " + variable + " names no option");
    origins.try_emplace(key, variable);
    parsed.options.emplace_back(key, std::vector<std::string>{value});
  }
  return parsed;
}

// The config file: a readable regular file (never a directory, device or
// FIFO, which would run on defaults, spin or block).
po::parsed_options parse_file(const po::options_description& opts, const std::string& path, options::origins& origins) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw usage_error("invalid value for --config: cannot open '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) throw usage_error("invalid value for --config: '" + path + "' is not a regular file");
  std::ifstream file(path);
  if (!file) throw usage_error("invalid value for --config: cannot open '" + path + "'");
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);

  std::istringstream text;
  {
    std::string all;
    for (const auto& line : lines) all += line + '\n';
    text.str(all);
  }
  po::parsed_options parsed(&opts);
  try {
    parsed = po::parse_config_file(text, opts);
  } catch (const po::error& e) {
    throw usage_error("in config file '" + path + "': " + e.what());
  }
  // Name each key's line for error messages ("echo-server.conf:3 port").
  const auto name = std::filesystem::path(path).filename().string();
  for (const auto& option : parsed.options) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const auto first = lines[i].find_first_not_of(" \t");
      if (first == std::string::npos || lines[i].compare(first, option.string_key.size(), option.string_key) != 0)
        continue;
      const auto after = lines[i].find_first_not_of(" \t", first + option.string_key.size());
      if (after != std::string::npos && lines[i][after] == '=') {
        origins.try_emplace(option.string_key, name + ":" + std::to_string(i + 1) + " " + option.string_key);
        break;
      }
    }
  }
  return parsed;
}

// Stores one source's values; a value the option's type rejects is reported
// with where it came from.
void store(const po::parsed_options& parsed, po::variables_map& vm, const options::origins& origins) {
  for (const auto& option : parsed.options) {
    po::parsed_options one(parsed.description);
    one.options.push_back(option);
    try {
      po::store(one, vm);
    } catch (const po::error& e) {
      const auto found = origins.find(option.string_key);
      if (found == origins.end()) throw;
      const auto value = option.value.empty() ? std::string() : option.value.front();
      throw usage_error("invalid value for " + found->second + ": '" + value + "'");
    }
  }
}

// --bind: an address of this host to listen on. A multicast or broadcast
// address would give a TCP listener nobody can reach, without an error; an
// interface that does not exist (fe80::1%nosuchif) would lose its name and
// fail as "Invalid argument" when binding.
std::string check_bind_address(const std::string& text) {
  const auto bad = [&text](const std::string& why) { return std::invalid_argument("'" + text + "' (" + why + ")"); };
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(text, ec);
  if (ec) throw bad("expected an IPv4 or IPv6 address");
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
  if (address.is_multicast()) throw bad("a multicast address; expected an address of this host");
  if (address.is_v4() && address.to_v4() == boost::asio::ip::address_v4::broadcast())
    throw bad("the broadcast address; expected an address of this host");
  const auto percent = text.find('%');
  if (percent != std::string::npos && address.is_v6() && address.to_v6().scope_id() == 0)
    throw bad("no network interface named '" + text.substr(percent + 1) + "'");
  return text;
}

bool parse_on_off(std::string_view text) {
  if (text == "on") return true;
  if (text == "off") return false;
  throw std::invalid_argument("'" + std::string(text) + "' (expected on or off)");
}

void read_tls_options(const po::variables_map& vm, const options::origins* known, server_config& config) {
  if (vm.count("tls-port")) config.tls_port = options::integer<std::uint16_t>(vm, "tls-port", 0, 65535, known);
  // (Their contents are checked when the server starts.)
  if (vm.count("tls-cert")) config.tls_cert = options::readable_file(vm, "tls-cert", known);
  if (vm.count("tls-key")) config.tls_key = options::readable_file(vm, "tls-key", known);
  if (vm.count("tls-client-ca")) config.tls_client_ca = options::readable_file(vm, "tls-client-ca", known);
  if (config.tls_port && (config.tls_cert.empty() || config.tls_key.empty()))
    throw usage_error(options::origin(known, "tls-port") + " needs --tls-cert FILE and --tls-key FILE");
  if (config.tls_cert.empty() != config.tls_key.empty())
    throw usage_error(config.tls_cert.empty() ? options::origin(known, "tls-key") + " needs --tls-cert FILE"
                                              : options::origin(known, "tls-cert") + " needs --tls-key FILE");
  if (!config.tls_client_ca.empty() && config.tls_cert.empty())
    throw usage_error(options::origin(known, "tls-client-ca") + " needs --tls-cert FILE and --tls-key FILE");
  if (config.tls_port && *config.tls_port != 0 && *config.tls_port == config.port && config.tcp)
    throw usage_error("invalid value for " + options::origin(known, "tls-port") + ": '" +
                      std::to_string(*config.tls_port) + "' (plain TCP is served on that port; pick another)");
}

server_config to_config(const po::variables_map& vm, const options::origins& origins) {
  const auto* known = &origins;
  server_config config;
  const bool tcp = vm["tcp"].as<bool>();
  const bool udp = vm["udp"].as<bool>();
  config.tcp = tcp || !udp;
  config.udp = udp || !tcp;
  if (vm.count("bind")) config.bind_address = options::parsed(vm, "bind", check_bind_address, known);
  config.port = options::integer<std::uint16_t>(vm, "port", 0, 65535, known);
  config.backlog = vm.count("backlog") ? options::integer<int>(vm, "backlog", 0, 65535, known) : system_max_backlog();
  config.threads = options::integer<unsigned>(vm, "threads", 0, 1024, known);
  if (config.threads == 0) config.threads = std::max(1u, std::thread::hardware_concurrency());
  config.max_connections = options::integer<std::size_t>(vm, "max-connections", 0, 10'000'000, known);
  config.max_connections_per_source =
      options::integer<std::size_t>(vm, "max-connections-per-source", 0, 10'000'000, known);
  config.tcp_buffer = options::integer<std::size_t>(vm, "tcp-buffer", 0, 1 << 30, known);
  if (config.tcp_buffer != 0 && config.tcp_buffer < 4096)
    throw usage_error("invalid value for " + options::origin(known, "tcp-buffer") + ": '" +
                      std::to_string(config.tcp_buffer) + "' (expected 0 for autotuning, or 4096 to 1073741824)");
  config.idle_timeout = options::seconds_or_off(vm, "idle-timeout", std::chrono::milliseconds(1), known);
  config.max_datagram = options::integer<std::size_t>(vm, "max-datagram", 0, 65535, known);
  config.udp_blocked_ports = options::parsed(vm, "udp-blocked-ports", port_filter::parse, known);
  config.udp_rate_limit = options::integer<std::uint32_t>(vm, "udp-rate-limit", 0, 100'000'000, known);
  config.udp_loop_damping = options::parsed(vm, "udp-loop-damping", parse_on_off, known);
  config.reuse_port = vm["reuse-port"].as<bool>();
  config.proxy_protocol = vm["proxy-protocol"].as<bool>();
  if (vm.count("proxy-trusted")) {
    config.proxy_trusted = options::parsed(vm, "proxy-trusted", cidr_list::parse, known);
    if (!config.proxy_protocol) throw usage_error(options::origin(known, "proxy-trusted") + " needs --proxy-protocol");
  }
  read_tls_options(vm, known, config);
  config.log_level = options::parsed(vm, "log-level", parse_log_level, known);
  config.format = options::parsed(vm, "log-format", parse_log_format, known);
  config.stats_interval = options::seconds_or_off(vm, "stats-interval", std::chrono::seconds(1), known);
  config.shutdown_timeout = options::seconds(vm, "shutdown-timeout", 0, known);
  if (vm.count("metrics")) config.metrics = options::parsed(vm, "metrics", parse_http_address, known);
  if (vm.count("config")) config.config_file = vm["config"].as<std::string>();
  return config;
}

// The command line, where a word that is not an option is an error that
// names it (collected under a name no option has, then refused).
po::parsed_options parse_command_line(const po::options_description& opts, const std::vector<std::string>& args) {
  constexpr const char* stray = "positional-argument";
  po::options_description with_stray;
  with_stray.add(opts).add_options()(stray, po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add(stray, -1);
  auto parsed = po::command_line_parser(args).options(with_stray).positional(positional).run();
  for (const auto& option : parsed.options)
    if (option.string_key == stray)
      throw usage_error("unexpected argument '" + (option.value.empty() ? std::string() : option.value.front()) +
                        "': echo-server takes options only (did you mean --bind ADDR --port N?)");
  parsed.description = &opts;
  return parsed;
}

std::string help_text(const po::options_description& opts) {
  std::ostringstream out;
  out << "Usage: echo-server [--tcp] [--udp] [--bind ADDR] [--port N] [--backlog N] [options]\n\n"
         "TCP and UDP echo (RFC 862) on one port. Every option can also be set as\n"
         "ECHO_SERVER_<KEY> in the environment (ECHO_SERVER_PORT=9001) or as\n"
         "'key = value' in the --config file. Precedence: command line, environment,\n"
         "config file, defaults.\n\n"
      << opts;
  return out.str();
}

} // namespace

int system_max_backlog() {
  std::ifstream in("/proc/sys/net/core/somaxconn");
  int value = 0;
  if (in >> value && value > 0) return value;
  return SOMAXCONN;
}

server_command parse_server_config(const std::vector<std::string>& args, const std::vector<std::string>& environment) {
  const auto opts = make_options();
  po::variables_map vm;
  options::origins origins;
  std::vector<std::string> ignored;
  try {
    // The first source to store a value wins: command line, environment, file.
    // A positional argument is a mistake (a host and port given nc-style
    // would otherwise be ignored and the server listen everywhere on 9001).
    const auto command_line = parse_command_line(opts, args);
    po::store(command_line, vm);
    for (const auto& option : command_line.options) origins.try_emplace(option.string_key, "--" + option.string_key);
    if (vm.count("help")) return {server_command::action::help, {}, help_text(opts), {}};
    if (vm.count("version")) return {server_command::action::version, {}, version_text("echo-server"), {}};
    store(parse_environment(opts, environment, origins, ignored), vm, origins);
    if (vm.count("config")) store(parse_file(opts, vm["config"].as<std::string>(), origins), vm, origins);
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }
  return {server_command::action::run, to_config(vm, origins), {}, std::move(ignored)};
}

http_address parse_http_address(const std::string& text) {
  const auto bad = [&text](const std::string& why) {
    return std::invalid_argument("'" + text + "' (" + why +
                                 "; expected ADDR:PORT with an IP address, e.g. 127.0.0.1:9100 or [::1]:9100)");
  };
  std::string address;
  std::string port;
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string::npos) throw bad("no ']:' after the IPv6 address");
    address = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) throw bad("no port");
    address = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (address.find(':') != std::string::npos) throw bad("an IPv6 address goes in brackets");
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(address, ec);
  if (ec) throw bad("'" + address + "' is not an IP address");
  const bool digits = !port.empty() && port.size() <= 5 &&
                      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoul(port) > 65535) throw bad("the port must be 0 to 65535");
  return {address, static_cast<std::uint16_t>(std::stoul(port))};
}

std::string format_http_address(const http_address& a) {
  return (a.address.find(':') != std::string::npos ? "[" + a.address + "]" : a.address) + ":" + std::to_string(a.port);
}

std::string describe(const server_config& c) {
  std::ostringstream out;
  out << "tcp=" << c.tcp << " udp=" << c.udp << " bind=" << (c.bind_address.empty() ? "::" : c.bind_address)
      << " port=" << c.port << " backlog=" << c.backlog << " threads=" << c.threads
      << " max-connections=" << c.max_connections << " max-connections-per-source=" << c.max_connections_per_source
      << " tcp-buffer=" << c.tcp_buffer << " idle-timeout=" << seconds_text(c.idle_timeout)
      << " max-datagram=" << c.max_datagram << " udp-blocked-ports=\"" << c.udp_blocked_ports.to_string()
      << "\" udp-rate-limit=" << c.udp_rate_limit << " udp-loop-damping=" << (c.udp_loop_damping ? "on" : "off")
      << " reuse-port=" << c.reuse_port << " proxy-protocol=" << c.proxy_protocol;
  if (!c.proxy_trusted.empty()) out << " proxy-trusted=" << c.proxy_trusted.to_string();
  if (c.tls_port) out << " tls-port=" << *c.tls_port;
  if (!c.tls_cert.empty()) out << " tls-cert=" << c.tls_cert << " tls-key=" << c.tls_key;
  if (!c.tls_client_ca.empty()) out << " tls-client-ca=" << c.tls_client_ca;
  out << " log-level=" << spdlog::level::to_string_view(c.log_level).data() << " log-format=" << to_string(c.format)
      << " stats-interval=" << seconds_text(c.stats_interval)
      << " shutdown-timeout=" << seconds_text(c.shutdown_timeout);
  if (c.metrics) out << " metrics=" << format_http_address(*c.metrics);
  if (!c.config_file.empty()) out << " config=" << c.config_file;
  return out.str();
}

} // namespace echo
