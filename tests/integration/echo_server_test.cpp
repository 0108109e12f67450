// The echo server in-process on 127.0.0.1 and ::1 with OS-chosen ports.
#include "test_support.hpp"

#include "echo/server/echo_server.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace echo::testing {
namespace {

using namespace std::chrono_literals;

class EchoServer : public ::testing::TestWithParam<ip_version> {};
INSTANTIATE_TEST_SUITE_P(Loopback, EchoServer, ::testing::Values(ip_version::v4, ip_version::v6), name_of);

// Sends `data` on one thread while reading the echo on this one, so neither
// side's buffers can fill up and stall the other.
std::vector<unsigned char> echo_concurrently(tcp::socket& socket, const std::vector<unsigned char>& data) {
  auto writer = std::async(std::launch::async, [&] {
    asio::write(socket, asio::buffer(data));
    socket.shutdown(tcp::socket::shutdown_send);
  });
  auto echoed = read_to_end(socket, data.size() + 1);
  writer.get();
  return echoed;
}

TEST_P(EchoServer, TcpEchoesOneMebibyteOfRandomBytesInOrder) {
  running_server server(test_config(GetParam()));
  asio::io_context io;
  auto socket = connect_tcp(io, server.tcp_endpoint());
  const auto data = random_bytes(1 << 20);
  EXPECT_EQ(echo_concurrently(socket, data), data);
}

TEST_P(EchoServer, HalfCloseGetsEverythingOwedThenEof) {
  running_server server(test_config(GetParam()));
  asio::io_context io;
  auto socket = connect_tcp(io, server.tcp_endpoint());
  const auto data = random_bytes(1000, 7);
  // Send, half-close at once, and only then start reading.
  asio::write(socket, asio::buffer(data.data(), 1000));
  socket.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(read_to_end(socket), std::vector<unsigned char>(data.begin(), data.begin() + 1000));
}

TEST_P(EchoServer, BinaryBytesIncludingZeroAndNewlinesSurvive) {
  running_server server(test_config(GetParam()));
  asio::io_context io;
  auto socket = connect_tcp(io, server.tcp_endpoint());
  std::vector<unsigned char> all(256);
  for (int i = 0; i < 256; ++i) all[static_cast<std::size_t>(i)] = static_cast<unsigned char>(i);
  EXPECT_EQ(echo_concurrently(socket, all), all);
}

TEST_P(EchoServer, ThreeHundredConcurrentClients) {
  running_server server(test_config(GetParam()));
  asio::io_context io;
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 300; ++i) clients.push_back(connect_tcp(io, server.tcp_endpoint()));
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const auto message = "client " + std::to_string(i) + " says hello\n";
    asio::write(clients[i], asio::buffer(message));
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const auto expected = "client " + std::to_string(i) + " says hello\n";
    std::string reply(expected.size(), '\0');
    asio::read(clients[i], asio::buffer(reply));
    EXPECT_EQ(reply, expected);
  }
  EXPECT_EQ(server.server().stats().get("sessions_opened"), 300u);
}

TEST_P(EchoServer, UdpEchoesEachDatagramWholeIncludingEmpty) {
  running_server server(test_config(GetParam()));
  asio::io_context io;
  auto socket = open_udp(io, server.udp_endpoint());
  for (const std::size_t size : {0u, 1u, 1024u, 65507u}) {
    const auto data = random_bytes(size, static_cast<unsigned>(size));
    socket.send(asio::buffer(data));
    std::vector<unsigned char> reply(65536);
    const auto n = socket.receive(asio::buffer(reply));
    reply.resize(n);
    EXPECT_EQ(reply, data) << "size " << size;
  }
  // The server counts a datagram just after sending it, so a fast client can
  // see the reply first: read the counter once the server has stopped.
  server.server().stop();
  ASSERT_TRUE(server.wait_stopped(10s));
  EXPECT_EQ(server.server().stats().get("datagrams_out"), 4u);
}

TEST_P(EchoServer, TcpAndUdpShareTheOsChosenPort) {
  running_server server(test_config(GetParam()));
  EXPECT_NE(server.tcp_endpoint().port(), 0);
  EXPECT_EQ(server.tcp_endpoint().port(), server.udp_endpoint().port());
  const auto log = server.log_text();
  EXPECT_NE(log.find("listening tcp"), std::string::npos) << log;
  EXPECT_NE(log.find("listening udp"), std::string::npos) << log;
  EXPECT_NE(log.find(":" + std::to_string(server.tcp_endpoint().port())), std::string::npos) << log;
}

TEST_P(EchoServer, TwoThreadsServeManyClientsCorrectly) {
  auto config = test_config(GetParam());
  config.threads = 2;
  config.udp_rate_limit = 0; // 100 quick exchanges from one source: not what this test is about
  running_server server(config);
  std::vector<std::future<void>> clients;
  for (unsigned c = 0; c < 8; ++c) {
    clients.push_back(std::async(std::launch::async, [&, c] {
      asio::io_context io;
      auto socket = connect_tcp(io, server.tcp_endpoint());
      const auto data = random_bytes(256 * 1024, c);
      EXPECT_EQ(echo_concurrently(socket, data), data);
    }));
  }
  asio::io_context io;
  auto udp_socket = open_udp(io, server.udp_endpoint());
  for (int i = 0; i < 100; ++i) {
    const auto data = random_bytes(512, static_cast<unsigned>(i));
    udp_socket.send(asio::buffer(data));
    std::vector<unsigned char> reply(1024);
    reply.resize(udp_socket.receive(asio::buffer(reply)));
    EXPECT_EQ(reply, data);
  }
  for (auto& c : clients) c.get();
}

TEST_P(EchoServer, GracefulStopLetsAnOpenSessionFinish) {
  auto config = test_config(GetParam());
  config.shutdown_timeout = 30s;
  running_server server(config);
  asio::io_context io;
  auto socket = connect_tcp(io, server.tcp_endpoint());
  asio::write(socket, asio::buffer("before", 6));
  std::string reply(6, '\0');
  asio::read(socket, asio::buffer(reply));
  ASSERT_EQ(reply, "before");

  server.server().stop();
  // No new connection is served once stopping...
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    tcp::socket probe(io);
    boost::system::error_code ec;
    probe.connect(server.tcp_endpoint(), ec);
    refused = static_cast<bool>(ec);
  }
  EXPECT_TRUE(refused);
  // ...while the open session keeps echoing until its client closes.
  asio::write(socket, asio::buffer("during", 6));
  asio::read(socket, asio::buffer(reply));
  EXPECT_EQ(reply, "during");
  EXPECT_FALSE(server.wait_stopped(100ms));
  socket.shutdown(tcp::socket::shutdown_send);
  EXPECT_TRUE(read_to_end(socket).empty());
  EXPECT_TRUE(server.wait_stopped(10s));
  const auto log = server.log_text();
  EXPECT_NE(log.find("stopped: sessions_open=0 sessions_opened=1"), std::string::npos) << log;
}

TEST_P(EchoServer, ShutdownTimeoutClosesSessionsThatStayOpen) {
  auto config = test_config(GetParam());
  config.shutdown_timeout = 300ms;
  running_server server(config);
  asio::io_context io;
  auto socket = connect_tcp(io, server.tcp_endpoint());
  asio::write(socket, asio::buffer("x", 1));
  char reply = 0;
  asio::read(socket, asio::buffer(&reply, 1));
  const auto started = std::chrono::steady_clock::now();
  server.server().stop();
  EXPECT_TRUE(read_to_end(socket).empty()); // the server closed it
  EXPECT_TRUE(server.wait_stopped(10s));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 250ms);
  EXPECT_NE(server.log_text().find("server stopping"), std::string::npos);
}

TEST_P(EchoServer, StopWithNoSessionsIsImmediate) {
  running_server server(test_config(GetParam()));
  server.server().stop();
  EXPECT_TRUE(server.wait_stopped(5s));
  EXPECT_NE(server.log_text().find("stopped:"), std::string::npos);
}

TEST_P(EchoServer, PortInUseFailsNamingTheAddress) {
  running_server first(test_config(GetParam()));
  auto config = test_config(GetParam());
  config.port = first.tcp_endpoint().port();
  asio::io_context io;
  echo_server second(io, config, std::make_shared<spdlog::logger>("second"));
  try {
    second.start();
    FAIL() << "bound a port already in use";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(config.port)), std::string::npos) << e.what();
  }
}

// Polls `done` until it holds or `limit` passes.
template <class Condition>
bool eventually(Condition done, std::chrono::milliseconds limit = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST_P(EchoServer, TwoThreadsIdleSweepAndShutdownCloseSessions) {
  auto config = test_config(GetParam());
  config.threads = 2;
  config.idle_timeout = 300ms;
  config.shutdown_timeout = 200ms;
  running_server server(config);
  const auto& stats = server.server().stats();
  asio::io_context io;
  auto idle = connect_tcp(io, server.tcp_endpoint());
  auto busy = connect_tcp(io, server.tcp_endpoint());
  // The idle one is closed by the sweep (on its own strand) while the busy
  // one, echoing every 50 ms, stays.
  std::string reply(4, '\0');
  ASSERT_TRUE(eventually([&] {
    asio::write(busy, asio::buffer("busy", 4));
    asio::read(busy, asio::buffer(reply));
    return stats.get("sessions_idle_closed") == 1;
  }));
  EXPECT_EQ(reply, "busy");
  EXPECT_TRUE(read_to_end(idle).empty());
  // At the end of a graceful stop the shutdown timeout closes the other.
  server.server().stop();
  EXPECT_TRUE(read_to_end(busy).empty());
  EXPECT_TRUE(server.wait_stopped(10s));
  EXPECT_EQ(stats.sessions_open(), 0u);
  EXPECT_NE(server.log_text().find("server stopping"), std::string::npos);
}

TEST_P(EchoServer, IdleTimeoutClosesASessionBlockedWritingToAPeerThatNeverReads) {
  auto config = test_config(GetParam());
  config.idle_timeout = 500ms;
  running_server server(config);
  asio::io_context io;
  auto socket = connect_tcp(io, server.tcp_endpoint());
  socket.non_blocking(true);
  // Send until both directions' buffers are full: the session now waits in
  // a write that can never finish, and reads nothing more.
  const std::vector<unsigned char> chunk(64 * 1024, 'x');
  boost::system::error_code ec;
  std::size_t sent = 0;
  ASSERT_TRUE(eventually([&] {
    sent += socket.write_some(asio::buffer(chunk), ec);
    return ec == asio::error::would_block;
  }));
  EXPECT_GT(sent, 64u * 1024);
  EXPECT_TRUE(eventually([&] { return server.server().stats().get("sessions_idle_closed") == 1; }));
}

// A forced teardown (no graceful stop): the server object goes first, then
// the io_context destroys the session frames it still holds. Their registry
// entries must not touch a registry that died with the server.
TEST_P(EchoServer, SessionFramesMayOutliveTheServer) {
  asio::io_context io;
  auto log = std::make_shared<spdlog::logger>("echo-server");
  auto server = std::make_unique<echo_server>(io, test_config(GetParam()), log);
  server->start();
  auto runner = std::async(std::launch::async, [&io] { io.run(); });
  asio::io_context client_io;
  auto client = connect_tcp(client_io, *server->tcp_endpoint());
  asio::write(client, asio::buffer("x", 1));
  char reply = 0;
  asio::read(client, asio::buffer(&reply, 1)); // the session is running
  io.stop();
  runner.wait();
  server.reset();
  // `io` is destroyed at the end of this scope with the session's frame.
}

} // namespace
} // namespace echo::testing
