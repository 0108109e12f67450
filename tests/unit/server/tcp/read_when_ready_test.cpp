// async_read_when_ready on real loopback connections: what it reads, that a
// waiting read holds no buffer, and above all that it never takes a socket
// for drained while something is still there to read (bytes behind a full
// buffer, a FIN or an urgent mark behind the data): that would leave a
// session waiting for an edge the reactor already saw.
#include "echo/server/tcp/read_when_ready.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using echo::buffer_pool;
using namespace std::chrono_literals;

struct read_result {
  boost::system::error_code ec;
  std::size_t bytes = 0;
};

// A connected pair on 127.0.0.1: `client` (plain blocking Asio socket) and
// `server`, accepted from a listener with TCP_INQ set or not, as echo-server
// sets it.
class ReadWhenReady : public ::testing::Test {
protected:
  void connect(bool tcp_inq) {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const int on = tcp_inq ? 1 : 0;
    ASSERT_EQ(::setsockopt(acceptor.native_handle(), IPPROTO_TCP, TCP_INQ, &on, sizeof on), 0);
    client.connect(acceptor.local_endpoint());
    client.set_option(tcp::no_delay(true));
    acceptor.accept(server);
  }

  // Starts one read; its result lands in `result`.
  void start_read() {
    result.reset();
    echo::async_read_when_ready(server, lease, [this](boost::system::error_code ec, std::size_t n) {
      result = read_result{ec, n};
    });
  }

  // Runs the io_context until the read is done, for at most `limit`.
  bool finish_read(std::chrono::milliseconds limit = 3s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!result && std::chrono::steady_clock::now() < end) {
      io.restart();
      io.run_one_for(10ms);
    }
    return result.has_value();
  }

  // Runs what is ready now, without waiting.
  void run_ready() {
    io.restart();
    io.poll();
  }

  // Bounded wait until everything the client sent has reached the server
  // (nothing left unacknowledged on the client's side).
  void wait_until_delivered() {
    const auto end = std::chrono::steady_clock::now() + 3s;
    int unacknowledged = 1;
    while (std::chrono::steady_clock::now() < end) {
      ASSERT_EQ(::ioctl(client.native_handle(), SIOCOUTQ, &unacknowledged), 0);
      if (unacknowledged == 0) return;
      std::this_thread::sleep_for(1ms);
    }
    FAIL() << unacknowledged << " bytes never reached the server";
  }

  std::string read_text() const {
    return {reinterpret_cast<const char*>(lease.bytes().data()), result->bytes}; // NOLINT: bytes as text
  }

  asio::io_context io{1};
  tcp::socket client{io};
  tcp::socket server{io};
  buffer_pool::lease lease;
  std::optional<read_result> result;
};

TEST_F(ReadWhenReady, ReadsWhatIsAlreadyThereAtOnce) {
  connect(true);
  asio::write(client, asio::buffer(std::string("hello")));
  wait_until_delivered();
  start_read();
  run_ready();
  ASSERT_TRUE(result);
  EXPECT_FALSE(result->ec);
  EXPECT_EQ(read_text(), "hello");
}

TEST_F(ReadWhenReady, WaitsHoldingNoBufferThenReadsWhatComes) {
  connect(true);
  start_read();
  run_ready();
  EXPECT_FALSE(result);
  EXPECT_FALSE(lease); // waiting owns no buffer
  asio::write(client, asio::buffer(std::string("later")));
  ASSERT_TRUE(finish_read());
  EXPECT_FALSE(result->ec);
  EXPECT_EQ(read_text(), "later");

  // Drained: the next read waits (and is woken by the next bytes).
  lease = {};
  start_read();
  run_ready();
  EXPECT_FALSE(result);
  asio::write(client, asio::buffer(std::string("again")));
  ASSERT_TRUE(finish_read());
  EXPECT_EQ(read_text(), "again");
}

// (Reading a full buffer makes Linux wake the reader again, so this does not
// show that a full read is never taken for "drained"; it shows the parts.)
TEST_F(ReadWhenReady, MoreThanABufferIsReadInBufferSizedParts) {
  connect(true);
  const std::vector<std::byte> data(buffer_pool::buffer_size + 1000, std::byte{'x'});
  asio::write(client, asio::buffer(data));
  wait_until_delivered();
  run_ready(); // the reactor takes the edges now, with no read waiting
  start_read();
  ASSERT_TRUE(finish_read());
  EXPECT_EQ(result->bytes, buffer_pool::buffer_size);
  // The rest, with nothing more from the client.
  start_read();
  ASSERT_TRUE(finish_read());
  EXPECT_FALSE(result->ec);
  EXPECT_EQ(result->bytes, 1000u);
}

// Data and FIN both queued before the read: a short read must not be taken
// for "drained", or the end of the stream is never seen.
TEST_F(ReadWhenReady, AFinBehindTheDataIsSeen) {
  for (const bool tcp_inq : {true, false}) {
    SCOPED_TRACE(tcp_inq ? "with TCP_INQ" : "without TCP_INQ");
    server = tcp::socket(io);
    client = tcp::socket(io);
    connect(tcp_inq);
    // A first exchange, so that the reactor has seen the socket's edges.
    asio::write(client, asio::buffer(std::string("one")));
    start_read();
    ASSERT_TRUE(finish_read());
    EXPECT_EQ(read_text(), "one");
    run_ready();

    asio::write(client, asio::buffer(std::string("two")));
    client.shutdown(tcp::socket::shutdown_send);
    wait_until_delivered();
    run_ready(); // the reactor takes the edges now, with no read waiting
    start_read();
    ASSERT_TRUE(finish_read());
    EXPECT_EQ(read_text(), "two");
    start_read();
    ASSERT_TRUE(finish_read()) << "the FIN behind the data was never read";
    EXPECT_EQ(result->ec, asio::error::eof);
  }
}

// Linux stops a read at an urgent mark: the bytes behind it are there, but
// no new edge will announce them.
TEST_F(ReadWhenReady, BytesBehindAnUrgentMarkAreRead) {
  connect(true);
  asio::write(client, asio::buffer(std::string("one")));
  start_read();
  ASSERT_TRUE(finish_read());
  run_ready();

  asio::write(client, asio::buffer(std::string("abc")));
  ASSERT_EQ(::send(client.native_handle(), "!", 1, MSG_OOB), 1);
  asio::write(client, asio::buffer(std::string("def")));
  wait_until_delivered();
  run_ready();
  std::string echoed;
  while (echoed.size() < 6) {
    start_read();
    ASSERT_TRUE(finish_read()) << "stuck after '" << echoed << "'";
    ASSERT_FALSE(result->ec) << result->ec.message();
    echoed += read_text();
  }
  EXPECT_EQ(echoed, "abcdef"); // the urgent byte itself is out of band
}

TEST_F(ReadWhenReady, CancelEndsTheWaitWithNoBufferHeld) {
  connect(true);
  start_read();
  run_ready();
  ASSERT_FALSE(result);
  server.cancel();
  ASSERT_TRUE(finish_read());
  EXPECT_EQ(result->ec, asio::error::operation_aborted);
  EXPECT_FALSE(lease);
}

TEST_F(ReadWhenReady, APeerResetIsAnError) {
  connect(true);
  const ::linger abort_on_close{1, 0};
  ASSERT_EQ(::setsockopt(client.native_handle(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close), 0);
  start_read();
  run_ready();
  client.close(); // RST
  ASSERT_TRUE(finish_read());
  EXPECT_EQ(result->ec, asio::error::connection_reset);
}

} // namespace
