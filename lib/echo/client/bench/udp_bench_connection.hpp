#pragma once

#include "echo/client/bench/bench_connection.hpp"

#include <boost/asio/ip/udp.hpp>

#include <vector>

namespace echo {

// A UDP load generator socket: a writer keeps `pipeline` numbered datagrams
// in flight, a reader matches each reply to its datagram by sequence number
// and checks it, and a sweep counts a datagram lost after the timeout.
class udp_bench_connection : public bench_connection<boost::asio::ip::udp::socket> {
public:
  // Datagrams start with their sequence number.
  static constexpr std::size_t header_size = sizeof(std::uint64_t);

  udp_bench_connection(bench_run& run, boost::asio::ip::udp::socket socket);

  // Spawns the connection's coroutines; returns how many.
  std::size_t start(const completion& done);

private:
  struct in_flight {
    std::uint64_t seq = 0;
    bench_run::send_times times; // times.sent starts the loss timeout
    bool busy = false;
  };

  asio::awaitable<void> write_loop();
  asio::awaitable<void> read_loop();
  asio::awaitable<void> loss_sweep();
  bool finished_sending() const { return !run_.sending || failed_; }

  std::vector<in_flight> slots_;
  std::vector<std::byte> datagram_;
  std::vector<std::byte> buffer_;
  std::uint64_t next_ = 0;
  std::size_t busy_ = 0;
};

} // namespace echo
