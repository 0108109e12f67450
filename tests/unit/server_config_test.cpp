#include "echo/common/usage_error.hpp"
#include "echo/server/server_config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

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

TEST(ServerConfig, ThreadsZeroMeansOnePerCore) { EXPECT_GE(parse({"--threads", "0"}).threads, 1u); }

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
  EXPECT_NE(msg.find("port"), std::string::npos) << msg;
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
