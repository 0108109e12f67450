#include "echo/client/config/client_config.hpp"
#include "echo/common/usage_error.hpp"

#include <gtest/gtest.h>

namespace {

using echo::client_command;
using echo::parse_client_config;
using echo::transport;
using namespace std::chrono_literals;

echo::client_config parse(std::vector<std::string> args) {
  const auto command = parse_client_config(args);
  EXPECT_EQ(command.what, client_command::action::run);
  return command.config;
}

std::string usage_message(std::vector<std::string> args) {
  try {
    parse_client_config(args);
  } catch (const echo::usage_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a usage_error";
  return {};
}

TEST(ClientConfig, Defaults) {
  const auto c = parse({});
  EXPECT_EQ(c.protocol, transport::tcp);
  EXPECT_EQ(c.host, "localhost");
  EXPECT_EQ(c.port, 9001);
  EXPECT_FALSE(c.message);
  EXPECT_FALSE(c.check);
  EXPECT_EQ(c.timeout, 5s);
  EXPECT_FALSE(c.bench);
  EXPECT_EQ(c.log_level, spdlog::level::warn);
}

TEST(ClientConfig, HostPortMessageCheck) {
  const auto c = parse({"--udp", "::1", "-p", "7007", "-m", "hello world", "--check", "--timeout", "0.25"});
  EXPECT_EQ(c.protocol, transport::udp);
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 7007);
  EXPECT_EQ(c.message, "hello world");
  EXPECT_TRUE(c.check);
  EXPECT_EQ(c.timeout, 250ms);
}

TEST(ClientConfig, BenchOptions) {
  const auto c = parse({"--bench", "--connections", "100", "--size", "1024", "--duration", "2", "--pipeline", "4",
                        "--rate", "5000", "--source", "127.0.0.2", "--source", "127.0.0.3", "--json"});
  ASSERT_TRUE(c.bench);
  EXPECT_EQ(c.bench->connections, 100u);
  EXPECT_EQ(c.bench->size, 1024u);
  EXPECT_EQ(c.bench->duration, 2s);
  EXPECT_EQ(c.bench->pipeline, 4u);
  EXPECT_EQ(c.bench->rate, 5000.0);
  EXPECT_EQ(c.bench->sources, (std::vector<std::string>{"127.0.0.2", "127.0.0.3"}));
  EXPECT_TRUE(c.bench->json);
}

TEST(ClientConfig, UsageErrorsNameTheOption) {
  auto msg = usage_message({"--tcp", "--udp"});
  EXPECT_NE(msg.find("--udp"), std::string::npos) << msg;
  msg = usage_message({"--check"});
  EXPECT_NE(msg.find("--check"), std::string::npos) << msg;
  msg = usage_message({"-p", "0"});
  EXPECT_NE(msg.find("--port"), std::string::npos) << msg;
  msg = usage_message({"-p", "x"});
  EXPECT_NE(msg.find("port"), std::string::npos) << msg;
  msg = usage_message({"--timeout", "0"});
  EXPECT_NE(msg.find("--timeout"), std::string::npos) << msg;
  msg = usage_message({"--connections", "5"});
  EXPECT_NE(msg.find("--bench"), std::string::npos) << msg;
  msg = usage_message({"--bench", "--pipeline", "0"});
  EXPECT_NE(msg.find("--pipeline"), std::string::npos) << msg;
  msg = usage_message({"--bench", "--udp", "--size", "4"});
  EXPECT_NE(msg.find("--size"), std::string::npos) << msg;
  msg = usage_message({"--bench", "--source", "nowhere"});
  EXPECT_NE(msg.find("nowhere"), std::string::npos) << msg;
  msg = usage_message({"a", "b"}); // HOST PORT, and b is no port
  EXPECT_NE(msg.find("PORT: 'b'"), std::string::npos) << msg;
  msg = usage_message({"a", "1", "c"});
  EXPECT_NE(msg.find("'c'"), std::string::npos) << msg;
  msg = usage_message({"--nope"});
  EXPECT_NE(msg.find("--nope"), std::string::npos) << msg;
}

TEST(ClientConfig, HostAndPortAsNcTakesThem) {
  const auto c = parse({"127.0.0.1", "19020"});
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 19020);
  EXPECT_EQ(parse({"::1", "7", "--udp"}).port, 7);
  EXPECT_EQ(parse({"-p", "8", "example.org"}).port, 8);
  EXPECT_NE(usage_message({"h", "7", "-p", "8"}).find("given twice"), std::string::npos);
  EXPECT_NE(usage_message({"h", "0"}).find("PORT: '0'"), std::string::npos);
  EXPECT_NE(usage_message({"h", "70000"}).find("PORT"), std::string::npos);
}

TEST(ClientConfig, SourceAddressesDoNotSwallowTheHost) {
  // Each --source takes one address: a second one is the HOST, as the help says.
  const auto c = parse({"--bench", "--source", "127.0.0.2", "--source", "127.0.0.3", "127.0.0.1"});
  ASSERT_TRUE(c.bench);
  EXPECT_EQ(c.bench->sources, (std::vector<std::string>{"127.0.0.2", "127.0.0.3"}));
  EXPECT_EQ(c.host, "127.0.0.1");
}

TEST(ClientConfig, HelpAndVersion) {
  EXPECT_EQ(parse_client_config({"-h"}).what, client_command::action::help);
  const auto version = parse_client_config({"--version"});
  EXPECT_EQ(version.what, client_command::action::version);
  EXPECT_EQ(version.text.rfind("echo-client ", 0), 0u);
}

} // namespace

namespace {

TEST(ClientConfig, TlsOptions) {
  EXPECT_FALSE(parse({}).tls);
  const auto c = parse({"--tls", "--servername", "echo.example", "--tls-ca", "/etc/hostname"});
  ASSERT_TRUE(c.tls);
  EXPECT_EQ(c.tls->servername, "echo.example");
  EXPECT_EQ(c.tls->ca, "/etc/hostname");
  EXPECT_FALSE(c.tls->insecure);
  EXPECT_TRUE(parse({"--tls", "--insecure"}).tls->insecure);

  EXPECT_EQ(usage_message({"--insecure"}), "--insecure needs --tls");
  EXPECT_EQ(usage_message({"--servername", "x"}), "--servername needs --tls");
  EXPECT_EQ(usage_message({"--tls", "--udp"}), "--tls is for TCP, not --udp");
  EXPECT_EQ(usage_message({"--tls", "--insecure", "--tls-ca", "/etc/hostname"}),
            "--insecure and --tls-ca exclude each other");
  EXPECT_EQ(usage_message({"--tls", "--cert", "/etc/hostname"}), "--cert needs --key");
  EXPECT_EQ(usage_message({"--tls", "--tls-ca", "/nonexistent"}),
            "invalid value for --tls-ca: '/nonexistent' (cannot read it: No such file or directory)");
}

} // namespace
