#pragma once

#include "echo/client/bench/bench_connection.hpp"
#include "echo/client/connection/client_stream.hpp"

#include <vector>

namespace echo {

// A TCP (or TLS) load generator connection: a writer keeps `pipeline`
// messages in flight, a reader checks every echoed byte against what was
// sent at its stream position and records each message's round trip.
class tcp_bench_connection : public bench_connection<client_stream> {
public:
  tcp_bench_connection(bench_run& run, client_stream stream);

  // Spawns the connection's coroutines; returns how many.
  std::size_t start(const completion& done);

private:
  asio::awaitable<void> write_loop();
  asio::awaitable<void> read_loop();
  void consume(const std::byte* data, std::size_t n, clock::time_point now);

  std::vector<bench_run::send_times> sent_at_; // by message number modulo the pipeline
  std::vector<std::byte> buffer_;
  std::uint64_t sent_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t received_ = 0;
  bool message_ok_ = true;
  bool writing_ = false; // a message's write is under way
};

} // namespace echo
