#include "echo/client/modes/udp_lines.hpp"

#include "echo/client/connection/connect.hpp"
#include "echo/client/modes/udp_exchanger.hpp"
#include "echo/client/modes/udp_window.hpp"

#include <iostream>

namespace echo {
namespace {

// A terminal's next line comes after a prompt, a pipe's as it is. (An if,
// not `co_await (c ? a() : b())`: GCC 12 destroys the chosen awaitable twice.)
asio::awaitable<std::optional<std::string>> next_line(stdin_reader& input, line_source source) {
  if (source == line_source::terminal) co_return co_await prompt_line(input);
  co_return co_await input.read_line();
}

} // namespace

asio::awaitable<int> udp_lines(const client_config& config, stdin_reader& input, line_source source) {
  const bool terminal = source == line_source::terminal;
  udp_exchanger udp(co_await resolve_udp(config), config);
  if (terminal) std::cerr << "sending datagrams to " << where(config) << " (udp); q or quit leaves\n";
  std::size_t lost = 0;
  // A line at a time, each address in turn, until one answers; from a pipe,
  // the rest then go to it in a window.
  const bool pipe = source == line_source::pipe;
  bool input_left = true;
  while (!(pipe && udp.settled())) {
    const auto line = co_await next_line(input, source);
    if (!line) {
      input_left = false;
      break;
    }
    try {
      write_stdout(co_await udp.exchange(*line));
      write_stdout("\n");
    } catch (const client_error& e) {
      ++lost;
      std::cerr << "echo-client: " << e.what() << (terminal ? " (lost; go on, or q to leave)" : "") << '\n';
    }
  }
  if (input_left) lost += co_await udp_window(config, input, udp);
  co_return lost == 0 ? 0 : 1;
}

} // namespace echo
