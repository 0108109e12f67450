#pragma once

#include "echo/client/config/client_config.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/udp.hpp>

#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace echo {

// UDP request and reply for the client's modes: one datagram out, its echo
// back, trying each address HOST resolved to in turn. A reply that comes
// after its line was given up on is never taken as the answer to a later
// line: it is reported on stderr and ignored.
class udp_exchanger {
public:
  udp_exchanger(std::vector<boost::asio::ip::udp::endpoint> endpoints, const client_config& config);

  // Sends `payload` and returns the reply, trying every address until one
  // answers within the timeout (the one that answers is used from then on).
  // Throws client_error when none does.
  boost::asio::awaitable<std::string> exchange(std::string_view payload);

  // True once an address has answered: socket() is then connected to it,
  // and a window of lines may go there without trying the others.
  bool settled() const { return settled_; }
  boost::asio::ip::udp::socket& socket() { return *socket_; }

  // Late replies: a line given up on is remembered, so that its echo, if it
  // comes after all, is reported and ignored rather than taken as an answer.
  void remember_lost(std::string_view payload);
  bool is_lost(std::string_view reply) const;
  void report_late(std::string_view reply);

private:
  // The last lines given up on, to recognise their late echoes.
  static constexpr std::size_t max_lost_remembered = 64;

  void discard_late_replies();

  std::vector<boost::asio::ip::udp::endpoint> endpoints_;
  const client_config& config_;
  std::optional<boost::asio::ip::udp::socket> socket_;
  std::size_t current_ = 0;
  bool settled_ = false;
  std::vector<char> reply_;
  std::deque<std::string> lost_;
};

} // namespace echo
