#include "echo/common/usage_error.hpp"
#include "echo/server/server_config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace {

using echo::parse_server_config;
using echo::server_command;
using echo::usage_error;
using namespace std::chrono_literals;

echo::server_config parse(std::vector<std::string> args, std::vector<std::string> env = {}) {
  auto command = parse_server_config(args, env);
  EXPECT_EQ(command.what, server_command::action::run);
  return command.config;
}

std::string usage_message(std::vector<std::string> args, std::vector<std::string> env = {}) {
  try {
    parse_server_config(args, env);
  } catch (const usage_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a usage_error";
  return {};
}

class temp_file {
public:
  explicit temp_file(const std::string& text)
      : path_(std::filesystem::temp_directory_path() /
              ("echo-config-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) + ".conf")) {
    std::ofstream(path_) << text;
  }
  ~temp_file() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(ServerConfig, DefaultsFollowTheSpec) {
  const auto c = parse({});
  EXPECT_TRUE(c.tcp);
  EXPECT_TRUE(c.udp);
  EXPECT_EQ(c.bind_address, "");
  EXPECT_EQ(c.port, 9001);
  EXPECT_EQ(c.backlog, echo::system_max_backlog());
  EXPECT_EQ(c.threads, 1u);
  EXPECT_EQ(c.max_connections, 10000u);
  EXPECT_EQ(c.idle_timeout, 300s);
  EXPECT_EQ(c.max_datagram, 65507u);
  EXPECT_EQ(c.udp_blocked_ports.to_string(), "0-1023");
  EXPECT_EQ(c.udp_rate_limit, 1000u);
  EXPECT_FALSE(c.reuse_port);
  EXPECT_EQ(c.log_level, spdlog::level::info);
  EXPECT_EQ(c.format, echo::log_format::text);
  EXPECT_EQ(c.stats_interval, 0s);
  EXPECT_EQ(c.shutdown_timeout, 5s);
}

TEST(ServerConfig, ProtocolFlagsSelectWhatIsServed) {
  auto c = parse({"--tcp"});
  EXPECT_TRUE(c.tcp);
  EXPECT_FALSE(c.udp);
  c = parse({"--udp"});
  EXPECT_FALSE(c.tcp);
  EXPECT_TRUE(c.udp);
  c = parse({"--tcp", "--udp"});
  EXPECT_TRUE(c.tcp && c.udp);
}

TEST(ServerConfig, ReadsEveryOptionFromTheCommandLine) {
  const auto c = parse({"--bind",
                        "127.0.0.1",
                        "-p",
                        "7",
                        "--backlog",
                        "16",
                        "--threads",
                        "3",
                        "--max-connections",
                        "50",
                        "--idle-timeout",
                        "2.5",
                        "--max-datagram",
                        "1000",
                        "--udp-blocked-ports",
                        "7,19,100-200",
                        "--udp-rate-limit",
                        "0",
                        "--reuse-port",
                        "--log-level",
                        "debug",
                        "--log-format",
                        "json",
                        "--stats-interval",
                        "10",
                        "--shutdown-timeout",
                        "0.5"});
  EXPECT_EQ(c.bind_address, "127.0.0.1");
  EXPECT_EQ(c.port, 7);
  EXPECT_EQ(c.backlog, 16);
  EXPECT_EQ(c.threads, 3u);
  EXPECT_EQ(c.max_connections, 50u);
  EXPECT_EQ(c.idle_timeout, 2500ms);
  EXPECT_EQ(c.max_datagram, 1000u);
  EXPECT_EQ(c.udp_blocked_ports.to_string(), "7,19,100-200");
  EXPECT_EQ(c.udp_rate_limit, 0u);
  EXPECT_TRUE(c.reuse_port);
  EXPECT_EQ(c.log_level, spdlog::level::debug);
  EXPECT_EQ(c.format, echo::log_format::json);
  EXPECT_EQ(c.stats_interval, 10s);
  EXPECT_EQ(c.shutdown_timeout, 500ms);
}

TEST(ServerConfig, ThreadsZeroMeansOnePerCore) {
  EXPECT_EQ(parse({"--threads", "0"}).threads, std::max(1u, std::thread::hardware_concurrency()));
}

TEST(ServerConfig, EmptyBlockedPortListBlocksNothing) {
  EXPECT_TRUE(parse({"--udp-blocked-ports", ""}).udp_blocked_ports.empty());
}

TEST(ServerConfig, BadValuesNameTheOptionAndTheValue) {
  auto msg = usage_message({"--port", "70000"});
  EXPECT_NE(msg.find("--port"), std::string::npos) << msg;
  EXPECT_NE(msg.find("70000"), std::string::npos) << msg;

  msg = usage_message({"--backlog", "-1"});
  EXPECT_NE(msg.find("--backlog"), std::string::npos) << msg;
  EXPECT_NE(msg.find("-1"), std::string::npos) << msg;

  msg = usage_message({"--threads", "abc"});
  EXPECT_NE(msg.find("threads"), std::string::npos) << msg;
  EXPECT_NE(msg.find("abc"), std::string::npos) << msg;

  msg = usage_message({"--idle-timeout", "-3"});
  EXPECT_NE(msg.find("--idle-timeout"), std::string::npos) << msg;

  msg = usage_message({"--log-level", "loud"});
  EXPECT_NE(msg.find("--log-level"), std::string::npos) << msg;
  EXPECT_NE(msg.find("loud"), std::string::npos) << msg;

  msg = usage_message({"--log-format", "xml"});
  EXPECT_NE(msg.find("xml"), std::string::npos) << msg;

  msg = usage_message({"--udp-blocked-ports", "1-x"});
  EXPECT_NE(msg.find("--udp-blocked-ports"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1-x"), std::string::npos) << msg;

  msg = usage_message({"--bind", "not-an-address"});
  EXPECT_NE(msg.find("--bind"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not-an-address"), std::string::npos) << msg;
}

TEST(ServerConfig, UnknownOptionIsNamed) {
  const auto msg = usage_message({"--bogus"});
  EXPECT_NE(msg.find("--bogus"), std::string::npos) << msg;
}

TEST(ServerConfig, HelpAndVersion) {
  auto command = parse_server_config({"--help"}, {});
  EXPECT_EQ(command.what, server_command::action::help);
  EXPECT_NE(command.text.find("--max-connections"), std::string::npos);
  command = parse_server_config({"-V"}, {});
  EXPECT_EQ(command.what, server_command::action::version);
  EXPECT_EQ(command.text.rfind("echo-server ", 0), 0u);
}

TEST(ServerConfig, EnvironmentSetsOptions) {
  const auto c = parse({}, {"ECHO_SERVER_PORT=1234", "ECHO_SERVER_IDLE_TIMEOUT=7", "ECHO_SERVER_UDP=true",
                            "PATH=/usr/bin", "ECHO_SERVER_LOG_LEVEL=warn"});
  EXPECT_EQ(c.port, 1234);
  EXPECT_EQ(c.idle_timeout, 7s);
  EXPECT_FALSE(c.tcp);
  EXPECT_TRUE(c.udp);
  EXPECT_EQ(c.log_level, spdlog::level::warn);
}

TEST(ServerConfig, UnknownEnvironmentVariableIsNamed) {
  const auto msg = usage_message({}, {"ECHO_SERVER_PROT=1"});
  EXPECT_NE(msg.find("ECHO_SERVER_PROT"), std::string::npos) << msg;
}

TEST(ServerConfig, BadEnvironmentValueIsNamed) {
  const auto msg = usage_message({}, {"ECHO_SERVER_PORT=99999"});
  EXPECT_NE(msg.find("ECHO_SERVER_PORT"), std::string::npos) << msg;
  EXPECT_NE(msg.find("99999"), std::string::npos) << msg;
}

TEST(ServerConfig, ConfigFileSetsOptions) {
  const temp_file file("# comment\nport = 4321\nmax-connections = 5\nudp-blocked-ports = 7\nreuse-port = true\n");
  const auto c = parse({"--config", file.path()});
  EXPECT_EQ(c.port, 4321);
  EXPECT_EQ(c.max_connections, 5u);
  EXPECT_EQ(c.udp_blocked_ports.to_string(), "7");
  EXPECT_TRUE(c.reuse_port);
  EXPECT_EQ(c.config_file, file.path());
}

TEST(ServerConfig, PrecedenceIsCommandLineThenEnvironmentThenFile) {
  const temp_file file("port = 1111\nbacklog = 11\nthreads = 2\nmax-connections = 3\n");
  const std::vector<std::string> env{"ECHO_SERVER_CONFIG=" + file.path(), "ECHO_SERVER_PORT=2222",
                                     "ECHO_SERVER_BACKLOG=22"};
  const auto c = parse({"--port", "3333"}, env);
  EXPECT_EQ(c.port, 3333);  // command line beats environment and file
  EXPECT_EQ(c.backlog, 22); // environment beats file
  EXPECT_EQ(c.threads, 2u); // file beats default
  EXPECT_EQ(c.max_connections, 3u);
  EXPECT_EQ(c.idle_timeout, 300s); // default
}

TEST(ServerConfig, BadConfigLineNamesTheFile) {
  const temp_file file("port = 1\nthis is not a setting\n");
  const auto msg = usage_message({"-c", file.path()});
  EXPECT_NE(msg.find(file.path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("this is not a setting"), std::string::npos) << msg;
}

TEST(ServerConfig, UnknownConfigKeyIsNamed) {
  const temp_file file("prot = 1\n");
  const auto msg = usage_message({"-c", file.path()});
  EXPECT_NE(msg.find("prot"), std::string::npos) << msg;
}

TEST(ServerConfig, BadConfigValueIsNamed) {
  const temp_file file("max-datagram = 70000\n");
  const auto msg = usage_message({"-c", file.path()});
  EXPECT_NE(msg.find("max-datagram"), std::string::npos) << msg;
  EXPECT_NE(msg.find("70000"), std::string::npos) << msg;
}

TEST(ServerConfig, MissingConfigFileIsNamed) {
  const auto msg = usage_message({"--config", "/nonexistent/echo.conf"});
  EXPECT_NE(msg.find("/nonexistent/echo.conf"), std::string::npos) << msg;
}

TEST(ServerConfig, PositionalArgumentsAreAnError) {
  // nc-style "HOST PORT" must not silently listen on every interface.
  auto msg = usage_message({"--tcp", "127.0.0.1", "19020"});
  EXPECT_NE(msg.find("unexpected argument '127.0.0.1'"), std::string::npos) << msg;
  msg = usage_message({"stray"});
  EXPECT_NE(msg.find("unexpected argument 'stray'"), std::string::npos) << msg;
  msg = usage_message({"--port", "1", "--", "after-dashes"});
  EXPECT_NE(msg.find("unexpected argument 'after-dashes'"), std::string::npos) << msg;
  msg = usage_message({"--positional-argument", "named"});
  EXPECT_NE(msg.find("unexpected argument 'named'"), std::string::npos) << msg;
}

TEST(ServerConfig, BindRefusesMulticastBroadcastAndUnknownInterfaces) {
  for (const std::string address :
       {"255.255.255.255", "224.0.0.1", "239.255.255.250", "ff02::1", "ff05::1:3", "::ffff:224.0.0.1"}) {
    const auto msg = usage_message({"--bind", address});
    EXPECT_NE(msg.find("invalid value for --bind: '" + address + "'"), std::string::npos) << msg;
  }
  auto msg = usage_message({}, {"ECHO_SERVER_BIND=224.0.0.251"});
  EXPECT_NE(msg.find("invalid value for ECHO_SERVER_BIND: '224.0.0.251' (a multicast address"), std::string::npos)
      << msg;
  msg = usage_message({"--bind", "fe80::1%nosuchif"});
  EXPECT_NE(msg.find("'fe80::1%nosuchif' (no network interface named 'nosuchif')"), std::string::npos) << msg;
  for (const std::string fine : {"127.0.0.1", "0.0.0.0", "::", "::1", "fe80::1%lo", "192.0.2.255"})
    EXPECT_EQ(parse({"--bind", fine}).bind_address, fine);
}

TEST(ServerConfig, UdpLoopDampingIsOnOrOffFromEverySource) {
  EXPECT_TRUE(parse({}).udp_loop_damping);
  EXPECT_FALSE(parse({"--udp-loop-damping", "off"}).udp_loop_damping);
  EXPECT_TRUE(parse({"--udp-loop-damping", "on"}).udp_loop_damping);
  EXPECT_FALSE(parse({}, {"ECHO_SERVER_UDP_LOOP_DAMPING=off"}).udp_loop_damping);
  const temp_file off("udp-loop-damping = off\n");
  EXPECT_FALSE(parse({"-c", off.path()}).udp_loop_damping);
  EXPECT_TRUE(parse({"--udp-loop-damping", "on", "-c", off.path()}).udp_loop_damping);

  auto msg = usage_message({"--udp-loop-damping", "maybe"});
  EXPECT_NE(msg.find("invalid value for --udp-loop-damping: 'maybe' (expected on or off)"), std::string::npos) << msg;
  msg = usage_message({}, {"ECHO_SERVER_UDP_LOOP_DAMPING=1"});
  EXPECT_NE(msg.find("invalid value for ECHO_SERVER_UDP_LOOP_DAMPING: '1'"), std::string::npos) << msg;
  const temp_file bad("port = 9001\nudp-loop-damping = Off\n");
  msg = usage_message({"-c", bad.path()});
  const auto name = std::filesystem::path(bad.path()).filename().string();
  EXPECT_NE(msg.find(name + ":2 udp-loop-damping: 'Off'"), std::string::npos) << msg;
  EXPECT_NE(echo::describe(parse({"--udp-loop-damping", "off"})).find(" udp-loop-damping=off "), std::string::npos);
}

TEST(ServerConfig, ConfigPathMustBeARegularFile) {
  const auto directory = std::filesystem::temp_directory_path().string();
  EXPECT_NE(usage_message({"-c", directory}).find("not a regular file"), std::string::npos);
  EXPECT_NE(usage_message({"-c", "/dev/zero"}).find("not a regular file"), std::string::npos);
  const auto fifo = directory + "/echo-config-fifo-" + std::to_string(::getpid());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto msg = usage_message({"-c", fifo}); // would block forever if opened
  std::filesystem::remove(fifo);
  EXPECT_NE(msg.find("not a regular file"), std::string::npos) << msg;
}

TEST(ServerConfig, DurationsThatWouldMeanOffByRoundingAreErrors) {
  auto msg = usage_message({"--idle-timeout", "0.0004"});
  EXPECT_NE(msg.find("--idle-timeout"), std::string::npos) << msg;
  EXPECT_NE(msg.find("0.0004"), std::string::npos) << msg;
  EXPECT_EQ(parse({"--idle-timeout", "0.001"}).idle_timeout, 1ms);
  EXPECT_EQ(parse({"--idle-timeout", "0"}).idle_timeout, 0ms);
  // Stats lines at most once a second: 0.001 would log a thousand a second.
  msg = usage_message({"--stats-interval", "0.001"});
  EXPECT_NE(msg.find("--stats-interval"), std::string::npos) << msg;
  EXPECT_NE(usage_message({"--stats-interval", "0.999"}).find("at least 1s"), std::string::npos);
  EXPECT_EQ(parse({"--stats-interval", "1"}).stats_interval, 1s);
  EXPECT_EQ(parse({"--stats-interval", "0"}).stats_interval, 0s);
}

TEST(ServerConfig, EnvironmentNamesAnOptionExactly) {
  for (const char* entry : {"ECHO_SERVER__P=1", "ECHO_SERVER_P=1", "ECHO_SERVER_POR=1", "ECHO_SERVER_HELP=1"}) {
    const auto msg = usage_message({}, {entry});
    EXPECT_NE(msg.find("names no option"), std::string::npos) << entry << ": " << msg;
  }
}

TEST(ServerConfig, EmptyElementsInAPortListAreErrors) {
  for (const char* list : {"1,,2", ",1", "1,"}) {
    const auto msg = usage_message({"--udp-blocked-ports", list});
    EXPECT_NE(msg.find("--udp-blocked-ports"), std::string::npos) << list << ": " << msg;
  }
  EXPECT_TRUE(parse({"--udp-blocked-ports", ""}).udp_blocked_ports.empty());
  EXPECT_TRUE(parse({"--udp-blocked-ports", "  "}).udp_blocked_ports.empty());
}

TEST(ServerConfig, ErrorsNameWhereTheValueCameFrom) {
  auto msg = usage_message({}, {"ECHO_SERVER_PORT=70000"});
  EXPECT_NE(msg.find("ECHO_SERVER_PORT"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("--port"), std::string::npos) << msg;
  msg = usage_message({}, {"ECHO_SERVER_PORT=abc"});
  EXPECT_NE(msg.find("ECHO_SERVER_PORT"), std::string::npos) << msg;
  EXPECT_NE(msg.find("abc"), std::string::npos) << msg;
  const temp_file file("# settings\nbacklog = 10\n  idle-timeout = -1\n");
  msg = usage_message({"-c", file.path()});
  const auto name = std::filesystem::path(file.path()).filename().string();
  EXPECT_NE(msg.find(name + ":3 idle-timeout"), std::string::npos) << msg;
  // The command line still says --name.
  msg = usage_message({"--port", "70000"}, {"ECHO_SERVER_PORT=1"});
  EXPECT_NE(msg.find("--port"), std::string::npos) << msg;
}

TEST(ServerConfig, KubernetesServiceLinksAreSetAside) {
  const std::vector<std::string> env{"ECHO_SERVER_SERVICE_HOST=10.0.0.1",
                                     "ECHO_SERVER_SERVICE_PORT=9001",
                                     "ECHO_SERVER_SERVICE_PORT_ECHO_TCP=9001",
                                     "ECHO_SERVER_PORT=tcp://10.0.0.1:9001",
                                     "ECHO_SERVER_PORT_9001_TCP=tcp://10.0.0.1:9001",
                                     "ECHO_SERVER_PORT_9001_UDP_PROTO=udp",
                                     "ECHO_SERVER_PORT_9001_TCP_ADDR=10.0.0.1",
                                     "ECHO_SERVER_PORT_9001_TCP_PORT=9001"};
  const auto command = parse_server_config({}, env);
  EXPECT_EQ(command.config.port, 9001);
  EXPECT_EQ(command.set_aside.size(), env.size());
  // A real setting beside them still counts.
  auto with_port = env;
  with_port.push_back("ECHO_SERVER_BACKLOG=7");
  EXPECT_EQ(parse({}, with_port).backlog, 7);
  // ECHO_SERVER_PORT with a plain number is the port option, as always.
  EXPECT_EQ(parse({}, {"ECHO_SERVER_PORT=1234"}).port, 1234);
}

TEST(ServerConfig, DescribeListsEffectiveSettings) {
  const auto text = echo::describe(parse({"--port", "5", "--udp-blocked-ports", "7"}));
  EXPECT_NE(text.find("port=5"), std::string::npos) << text;
  EXPECT_NE(text.find("udp-blocked-ports=\"7\""), std::string::npos) << text;
}

} // namespace

namespace {

TEST(ServerConfig, ShippedExampleFileHoldsTheDefaults) {
  const std::string path = ECHO_SOURCE_DIR "/config/echo-server.conf";
  const auto from_file = parse({"--config", path});
  const auto defaults = parse({});
  EXPECT_EQ(echo::describe(from_file), echo::describe(defaults) + " config=" + path);
}

} // namespace

namespace {

TEST(ServerConfig, MetricsIsOffUnlessGiven) {
  EXPECT_FALSE(parse({}).metrics);
  const auto v4 = parse({"--metrics", "127.0.0.1:9100"}).metrics;
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->address, "127.0.0.1");
  EXPECT_EQ(v4->port, 9100);
  const auto v6 = parse({}, {"ECHO_SERVER_METRICS=[::]:0"}).metrics;
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->address, "::");
  EXPECT_EQ(v6->port, 0);
  EXPECT_EQ(echo::format_http_address(*v6), "[::]:0");
}

TEST(ServerConfig, MetricsAddressErrorsSayWhatIsWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"9100", "no port"},
      {"localhost:9100", "'localhost' is not an IP address"},
      {"::1:9100", "an IPv6 address goes in brackets"},
      {"[::1]", "no ']:'"},
      {"[::1]:", "the port must be 0 to 65535"},
      {"127.0.0.1:65536", "the port must be 0 to 65535"},
      {"127.0.0.1:-1", "the port must be 0 to 65535"},
      {"127.0.0.1:9100x", "the port must be 0 to 65535"},
  };
  for (const auto& [value, why] : cases) {
    const auto message = usage_message({"--metrics", value});
    EXPECT_NE(message.find(std::string("invalid value for --metrics: '") + value + "'"), std::string::npos) << message;
    EXPECT_NE(message.find(why), std::string::npos) << message;
  }
}

} // namespace

namespace {

TEST(ServerConfig, TlsOptionsNeedEachOtherAndReadableFiles) {
  const temp_file cert("cert"), key("key"), ca("ca");
  const auto c =
      parse({"--tls-port", "9443", "--tls-cert", cert.path(), "--tls-key", key.path(), "--tls-client-ca", ca.path()});
  ASSERT_TRUE(c.tls_port);
  EXPECT_EQ(*c.tls_port, 9443);
  EXPECT_EQ(c.tls_cert, cert.path());
  EXPECT_EQ(c.tls_key, key.path());
  EXPECT_EQ(c.tls_client_ca, ca.path());
  EXPECT_FALSE(parse({}).tls_port);

  EXPECT_EQ(usage_message({"--tls-port", "9443"}), "--tls-port needs --tls-cert FILE and --tls-key FILE");
  EXPECT_EQ(usage_message({"--tls-port", "9443", "--tls-cert", cert.path()}),
            "--tls-port needs --tls-cert FILE and --tls-key FILE");
  EXPECT_EQ(usage_message({"--tls-cert", cert.path()}), "--tls-cert needs --tls-key FILE");
  EXPECT_EQ(usage_message({"--tls-client-ca", ca.path()}), "--tls-client-ca needs --tls-cert FILE and --tls-key FILE");
  EXPECT_EQ(usage_message({"--tls-port", "9443", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", key.path()}),
            "invalid value for --tls-cert: '/nonexistent/cert.pem' (cannot read it: No such file or directory)");
  EXPECT_EQ(usage_message({"--tls-port", "9443", "--tls-cert", "/tmp", "--tls-key", key.path()}),
            "invalid value for --tls-cert: '/tmp' (not a regular file)");
  EXPECT_EQ(usage_message({"--tls-port", "9001", "--tls-cert", cert.path(), "--tls-key", key.path()}),
            "invalid value for --tls-port: '9001' (plain TCP is served on that port; pick another)");
  EXPECT_EQ(usage_message({"--tls-port", "70000"}), "invalid value for --tls-port: '70000' (expected 0 to 65535)");
  // Where a bad value came from is named, as for every option.
  EXPECT_EQ(usage_message({"--tls-port", "9443", "--tls-key", key.path()}, {"ECHO_SERVER_TLS_CERT=/nonexistent"}),
            "invalid value for ECHO_SERVER_TLS_CERT: '/nonexistent' (cannot read it: No such file or directory)");
}

} // namespace
