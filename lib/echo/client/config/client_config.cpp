#include "echo/client/config/client_config.hpp"

#include "echo/common/logging.hpp"
#include "echo/common/option_values.hpp"
#include "echo/common/usage_error.hpp"
#include "echo/common/version.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/program_options.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <optional>
#include <sstream>
#include <utility>

namespace po = boost::program_options;

namespace echo {
namespace {

po::options_description make_options() {
  po::options_description general("Options");
  // clang-format off
  general.add_options()
    ("tcp", po::bool_switch(), "use TCP (the default)")
    ("udp,u", po::bool_switch(), "use UDP")
    ("port,p", po::value<std::int64_t>()->value_name("N")->default_value(9001), "server port")
    ("message,m", po::value<std::string>()->value_name("TEXT"), "send TEXT, print the reply, exit")
    ("check", po::bool_switch(), "with -m: exit 1 unless the reply equals TEXT (a health probe)")
    ("probe,z", po::bool_switch(),
     "only check that the port answers, printing nothing, as nc -z: TCP connects (and with --tls shakes "
     "hands), UDP needs the echo of an empty datagram; exit 0 when it answers")
    ("no-shutdown", po::bool_switch(),
     "with -m or a pipe over TCP: do not half-close after sending; end once the echo is complete (for servers "
     "that close on a half-close without answering)")
    ("timeout,w", po::value<double>()->value_name("S")->default_value(5, "5"), "connect and reply timeout, seconds")
    ("merge", po::value<std::vector<std::string>>()->multitoken()->value_name("FILE..."),
     "merge --bench --json reports of several load generators into one (exact sums, percentiles of all samples)")
    ("proxy-header", po::value<std::string>()->value_name("v1|v2"),
     "over TCP: send a PROXY protocol header first on every connection, as a load balancer would")
    ("tls", po::bool_switch(),
     "TCP over TLS (1.2 or newer); the server's certificate is verified against the system's CAs, or "
     "--tls-ca, and must name HOST (or --servername)")
    ("tls-ca", po::value<std::string>()->value_name("FILE"), "with --tls: trust the CA certificates in this PEM file")
    ("insecure", po::bool_switch(), "with --tls: do not verify the server's certificate (testing only)")
    ("servername", po::value<std::string>()->value_name("NAME"),
     "with --tls: the name sent as SNI and checked in the certificate (default: HOST)")
    ("cert", po::value<std::string>()->value_name("FILE"), "with --tls: a PEM client certificate (mutual TLS)")
    ("key", po::value<std::string>()->value_name("FILE"), "with --tls and --cert: its PEM private key")
    (",4", po::bool_switch(), "use IPv4 addresses only")
    (",6", po::bool_switch(), "use IPv6 addresses only")
    ("verbose,v", po::bool_switch(), "say which address it connected to (--log-level info)")
    ("log-level", po::value<std::string>()->value_name("L")->default_value("warn"),
     "trace, debug, info, warn, error, critical, off (logs go to stderr)")
    ("help,h", "print this help and exit")
    ("version,V", "print the version and exit");
  po::options_description bench("Load generator (--bench)");
  bench.add_options()
    ("bench", po::bool_switch(), "run the load generator")
    ("connections", po::value<std::int64_t>()->value_name("N")->default_value(1),
     "TCP connections (UDP: sockets)")
    ("size", po::value<std::int64_t>()->value_name("BYTES")->default_value(64), "bytes per message")
    ("duration", po::value<double>()->value_name("S")->default_value(5, "5"), "how long to run, seconds")
    ("pipeline", po::value<std::int64_t>()->value_name("D")->default_value(1),
     "messages in flight per connection")
    ("rate", po::value<double>()->value_name("R")->default_value(0, "0"),
     "target messages per second over all connections; 0 = as fast as possible")
    ("source", po::value<std::vector<std::string>>()->value_name("ADDR")->composing(),
     "local address to connect from; repeat to spread connections over several "
     "(--source 127.0.0.2 --source 127.0.0.3: more than one address's ephemeral ports)")
    ("churn", po::bool_switch(),
     "over TCP: each connection sends one message, reads its echo, closes and connects again "
     "(connection churn; --connections workers, one request per connection)")
    ("json", po::bool_switch(), "print the final report as one JSON object")
    ("json-out", po::value<std::string>()->value_name("FILE"),
     "with --bench or --merge: also write the report as JSON to FILE, whole or not at all (a new file "
     "renamed over it)")
    ("progress", po::bool_switch(),
     "show progress on stderr once a second even when stderr is not a terminal (on a terminal it always "
     "shows)");
  // clang-format on
  general.add(bench);
  return general;
}

std::string help_text(const po::options_description& opts) {
  std::ostringstream out;
  out << "Usage: echo-client [--tcp | --udp] [HOST [PORT]] [-p N] [options]\n\n"
         "Talks to an echo server (RFC 862). HOST defaults to localhost (127.0.0.1 and ::1,\n"
         "without asking a resolver); every address it resolves to is tried in turn.\n"
         "PORT, as nc takes it, or -p; HOST:PORT and [IPV6]:PORT work too. Modes:\n"
         "  interactive  stdin is a terminal: type lines, see replies; q, quit or EOF leaves\n"
         "  pipe         stdin is not a terminal: TCP copies stdin to the server and the\n"
         "               echo to stdout (like nc); UDP sends each line as a datagram\n"
         "  -m TEXT      send TEXT, print the reply; with --check, a health probe\n"
         "  --bench      load generator with a latency report\n"
         "Exit codes: 0 success, 1 failure (refused, timeout, mismatch), 2 usage error.\n\n"
      << opts;
  return out.str();
}

std::uint16_t parse_port_word(const std::string& word) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (word.empty() || ec != std::errc{} || end != word.data() + word.size() || value < 1 || value > 65535)
    throw usage_error("invalid value for PORT: '" + word + "' (expected 1 to 65535)");
  return static_cast<std::uint16_t>(value);
}

std::optional<tls_options> read_tls_options(const po::variables_map& vm, const client_config& config) {
  const bool tls = vm["tls"].as<bool>();
  for (const char* name : {"tls-ca", "servername", "cert", "key"})
    if (vm.count(name) && !tls) throw usage_error(std::string("--") + name + " needs --tls");
  if (vm["insecure"].as<bool>() && !tls) throw usage_error("--insecure needs --tls");
  if (!tls) return std::nullopt;
  if (config.protocol == transport::udp) throw usage_error("--tls is for TCP, not --udp");
  tls_options wanted;
  if (vm.count("tls-ca")) wanted.ca = options::readable_file(vm, "tls-ca");
  wanted.insecure = vm["insecure"].as<bool>();
  if (wanted.insecure && !wanted.ca.empty()) throw usage_error("--insecure and --tls-ca exclude each other");
  if (vm.count("servername")) {
    wanted.servername = vm["servername"].as<std::string>();
    if (wanted.servername.empty()) throw usage_error("invalid value for --servername: '' (expected a name)");
  }
  if (vm.count("cert")) wanted.cert = options::readable_file(vm, "cert");
  if (vm.count("key")) wanted.key = options::readable_file(vm, "key");
  if (wanted.cert.empty() != wanted.key.empty())
    throw usage_error(wanted.cert.empty() ? "--key needs --cert" : "--cert needs --key");
  return wanted;
}

// --json-out FILE: checked before a run of many seconds, not after it.
// The file is written at the end into its directory and renamed over FILE.
std::string report_file_path(const po::variables_map& vm) {
  const auto& path = vm["json-out"].as<std::string>();
  const auto invalid = [&](const std::string& why) {
    throw usage_error("invalid value for --json-out: '" + path + "' (" + why + ")");
  };
  if (path.empty() || path.back() == '/') invalid("expected a file name");
  const auto slash = path.rfind('/');
  const std::string directory = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) invalid("a directory");
  if (::stat(directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) invalid("no directory " + directory);
  if (::access(directory.c_str(), W_OK | X_OK) != 0) invalid("the directory " + directory + " is not writable");
  return path;
}

// HOST, HOST:PORT, [V6] or [V6]:PORT as one word; an IPv6 address without
// brackets (two colons or more) is a HOST alone.
std::pair<std::string, std::optional<std::string>> split_host_port(const std::string& word) {
  if (word.starts_with('[')) {
    const auto close = word.find(']');
    if (close == std::string::npos) throw usage_error("invalid value for HOST: '" + word + "' (no closing ']')");
    const auto rest = word.substr(close + 1);
    if (rest.empty()) return {word.substr(1, close - 1), std::nullopt};
    if (rest.front() != ':')
      throw usage_error("invalid value for HOST: '" + word + "' (expected [ADDRESS] or [ADDRESS]:PORT)");
    return {word.substr(1, close - 1), rest.substr(1)};
  }
  const auto colon = word.find(':');
  if (colon == std::string::npos || word.find(':', colon + 1) != std::string::npos) return {word, std::nullopt};
  return {word.substr(0, colon), word.substr(colon + 1)};
}

} // namespace

client_command parse_client_config(const std::vector<std::string>& args) {
  const auto opts = make_options();
  po::options_description all;
  all.add(opts).add_options()("host", po::value<std::vector<std::string>>());
  // nc's options that mean something else here, or nothing: known, so that
  // their error can say what to use instead.
  all.add_options()(",l", po::bool_switch())(",N", po::bool_switch())(",q", po::value<std::string>());
  po::positional_options_description positional;
  positional.add("host", -1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }
  if (vm.count("help")) return {client_command::action::help, {}, help_text(opts)};
  if (vm.count("version")) return {client_command::action::version, {}, version_text("echo-client")};

  if (vm["-l"].as<bool>())
    throw usage_error("-l: echo-client only connects (nc's -l listens); to listen, run echo-server");
  if (vm["-N"].as<bool>())
    throw usage_error("-N: echo-client already shuts down its sending side at the end of input, as nc -N does "
                      "(--no-shutdown turns that off); leave -N out");
  if (vm.count("-q"))
    throw usage_error("-q " + vm["-q"].as<std::string>() +
                      ": echo-client ends by itself once the echo is complete (nc's -q waits after the end of "
                      "input); bound every wait with -w/--timeout S");

  client_config config;
  if (vm["tcp"].as<bool>() && vm["udp"].as<bool>()) throw usage_error("--tcp and --udp exclude each other");
  config.protocol = vm["udp"].as<bool>() ? transport::udp : transport::tcp;
  config.port = options::integer<std::uint16_t>(vm, "port", 1, 65535);
  if (vm.count("host")) {
    // HOST, or HOST PORT as nc takes them.
    const auto& words = vm["host"].as<std::vector<std::string>>();
    if (words.size() > 2) throw usage_error("unexpected argument '" + words[2] + "' (expected [HOST [PORT]])");
    const auto [host, port_word] = split_host_port(words.front());
    config.host = host;
    if (config.host.empty()) throw usage_error("invalid value for HOST: '' (expected a name or address)");
    if (port_word && words.size() == 2)
      throw usage_error("the port is given twice: in '" + words.front() + "' and as PORT '" + words[1] + "'");
    const auto port = port_word ? port_word : words.size() == 2 ? std::optional(words[1]) : std::nullopt;
    if (port) {
      if (!vm["port"].defaulted())
        throw usage_error("the port is given twice: as '" + *port +
                          "' and with -p (-p is the server's port here, not nc's source port)");
      config.port = parse_port_word(*port);
    }
  }
  if (vm.count("message")) config.message = vm["message"].as<std::string>();
  config.check = vm["check"].as<bool>();
  config.probe = vm["probe"].as<bool>();
  if (config.probe && config.message) throw usage_error("-z and -m/--message exclude each other");
  config.half_close = !vm["no-shutdown"].as<bool>();
  if (config.check && !config.message) throw usage_error("--check needs -m/--message TEXT");
  config.timeout = options::seconds(vm, "timeout", 0.001);
  config.log_level = options::parsed(vm, "log-level", parse_log_level);
  if (vm["verbose"].as<bool>() && vm["log-level"].defaulted()) config.log_level = spdlog::level::info;
  if (vm.count("proxy-header")) {
    const auto& version = vm["proxy-header"].as<std::string>();
    if (version != "v1" && version != "v2")
      throw usage_error("invalid value for --proxy-header: '" + version + "' (expected v1 or v2)");
    if (config.protocol == transport::udp) throw usage_error("--proxy-header is for TCP, not --udp");
    config.proxy_header = version == "v1" ? 1 : 2;
  }
  config.tls = read_tls_options(vm, config);
  if (vm["-4"].as<bool>() && vm["-6"].as<bool>()) throw usage_error("-4 and -6 exclude each other");
  if (vm["-4"].as<bool>()) config.family = address_family::v4;
  if (vm["-6"].as<bool>()) config.family = address_family::v6;

  // --json also goes with --merge; the others only with --bench.
  const bool run_options_given = !vm["connections"].defaulted() || !vm["size"].defaulted() ||
                                 !vm["duration"].defaulted() || !vm["pipeline"].defaulted() ||
                                 !vm["rate"].defaulted() || vm.count("source") || vm["churn"].as<bool>() ||
                                 vm["progress"].as<bool>();
  const bool bench_options_given = run_options_given || vm["json"].as<bool>();
  if (vm.count("json-out")) {
    if (!vm["bench"].as<bool>() && !vm.count("merge")) throw usage_error("--json-out needs --bench or --merge");
    config.json_out = report_file_path(vm);
  }
  if (!config.half_close && (vm["bench"].as<bool>() || config.protocol == transport::udp))
    throw usage_error("--no-shutdown is for -m and pipe mode over TCP, not " +
                      std::string(vm["bench"].as<bool>() ? "--bench" : "--udp"));
  if (vm.count("merge")) {
    if (vm["bench"].as<bool>() || config.message || run_options_given)
      throw usage_error("--merge takes only report files (and --json, --json-out)");
    config.merge = vm["merge"].as<std::vector<std::string>>();
    config.json = vm["json"].as<bool>();
    return {client_command::action::run, config, {}};
  }
  if (vm["bench"].as<bool>()) {
    if (config.message) throw usage_error("--bench and -m/--message exclude each other");
    bench_config bench;
    bench.connections = options::integer<std::size_t>(vm, "connections", 1, 1'000'000);
    const bool udp = config.protocol == transport::udp;
    bench.size = options::integer<std::size_t>(vm, "size", udp ? 8 : 1, udp ? 65507 : 16 << 20);
    bench.duration = options::seconds(vm, "duration", 0.1);
    bench.pipeline = options::integer<std::size_t>(vm, "pipeline", 1, 4096);
    bench.rate = options::real(vm, "rate", 0, 1e9);
    if (vm.count("source")) {
      bench.sources = vm["source"].as<std::vector<std::string>>();
      for (const auto& source : bench.sources) {
        boost::system::error_code ec;
        boost::asio::ip::make_address(source, ec);
        if (ec) throw usage_error("invalid value for --source: '" + source + "' (expected an IP address)");
      }
    }
    bench.json = vm["json"].as<bool>();
    bench.churn = vm["churn"].as<bool>();
    bench.progress = vm["progress"].as<bool>();
    if (bench.churn) {
      if (udp) throw usage_error("--churn is for TCP, not --udp");
      if (bench.pipeline != 1) throw usage_error("--churn sends one message per connection: no --pipeline");
      if (bench.rate != 0) throw usage_error("--churn and --rate exclude each other");
    }
    config.bench = bench;
  } else if (bench_options_given) {
    throw usage_error(
        "--connections, --size, --duration, --pipeline, --rate, --source, --churn, --json and --progress need "
        "--bench");
  }
  return {client_command::action::run, config, {}};
}

} // namespace echo
