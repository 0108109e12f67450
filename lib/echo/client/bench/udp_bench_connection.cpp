#include "echo/client/bench/udp_bench_connection.hpp"

#include <boost/asio/co_spawn.hpp>

#include <algorithm>
#include <cstring>

namespace echo {

using asio::ip::udp;

udp_bench_connection::udp_bench_connection(bench_run& run, udp::socket socket)
    : bench_connection(run, std::move(socket)), slots_(run.bench.pipeline), datagram_(run.bench.size), buffer_(65536) {}

std::size_t udp_bench_connection::start(const completion& done) {
  start_schedule();
  asio::co_spawn(socket_.get_executor(), write_loop(), done);
  asio::co_spawn(socket_.get_executor(), read_loop(), done);
  asio::co_spawn(socket_.get_executor(), loss_sweep(), done);
  return 3;
}

asio::awaitable<void> udp_bench_connection::write_loop() {
  const auto pipeline = run_.bench.pipeline;
  while (run_.sending && !failed_) {
    auto& slot = slots_[next_ % pipeline];
    if (slot.busy) {
      co_await slot_free_.wait();
      continue;
    }
    if (must_wait_for_slot()) {
      pace_.expires_at(schedule_.next_due());
      co_await pace_.async_wait(deferred_nothrow);
      continue; // the run may have stopped, or the connection failed
    }
    std::memcpy(datagram_.data(), &next_, header_size);
    std::memcpy(datagram_.data() + header_size, run_.message(next_), datagram_.size() - header_size);
    slot = {next_, stamp(clock::now()), true};
    ++busy_;
    ++next_;
    auto [ec, n] = co_await socket_.async_send(asio::buffer(datagram_), deferred_nothrow);
    if (ec) co_return fail();
  }
  stop_schedule();
}

asio::awaitable<void> udp_bench_connection::read_loop() {
  while (!(finished_sending() && busy_ == 0)) {
    auto [ec, n] = co_await socket_.async_receive(asio::buffer(buffer_), deferred_nothrow);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) co_return fail(); // e.g. ICMP port unreachable
    const auto now = clock::now();
    run_.report.bytes += n;
    std::uint64_t seq = 0;
    if (n >= header_size) std::memcpy(&seq, buffer_.data(), header_size);
    auto& slot = slots_[seq % run_.bench.pipeline];
    if (n < header_size || !slot.busy || slot.seq != seq) continue; // late reply to a datagram counted lost
    slot.busy = false;
    --busy_;
    slot_free_.notify();
    if (n != datagram_.size() || std::memcmp(buffer_.data() + header_size, run_.message(seq), n - header_size) != 0) {
      ++run_.report.mismatches;
    } else {
      run_.completed(slot.times, now);
      ++verified_;
    }
  }
}

// Datagrams without a reply for the timeout are lost: free their slots.
asio::awaitable<void> udp_bench_connection::loss_sweep() {
  asio::steady_timer timer(socket_.get_executor());
  const auto timeout = run_.config.timeout;
  while (!failed_ && !(finished_sending() && busy_ == 0)) {
    timer.expires_after(
        std::clamp<clock::duration>(timeout / 10, std::chrono::milliseconds(1), std::chrono::milliseconds(100)));
    co_await timer.async_wait(nothrow);
    const auto now = clock::now();
    for (auto& slot : slots_) {
      if (slot.busy && now - slot.times.sent > timeout) {
        slot.busy = false;
        --busy_;
        ++run_.report.lost;
        slot_free_.notify();
      }
    }
  }
  error_code ignored;
  socket_.cancel(ignored); // ends the reader's last receive
}

} // namespace echo
