#include "echo/server/tcp/proxy_prelude.hpp"

#include "echo/common/duration_text.hpp"
#include "echo/common/net/endpoint_format.hpp"
#include "echo/server/tcp/phase_deadline.hpp"

#include <boost/asio/this_coro.hpp>

#include <string>

namespace echo {

asio::awaitable<std::optional<proxy_start>> read_proxy_header(boost::asio::ip::tcp::socket& socket,
                                                              std::span<std::byte> buffer, session_record& record) {
  const auto& context = record.context;
  buffer = buffer.first(proxy_header_max_bytes);
  const auto* const start = reinterpret_cast<const std::uint8_t*>(buffer.data());
  std::size_t have = 0;
  proxy_parse parsed;
  std::string why;
  {
    const phase_deadline deadline(socket, co_await asio::this_coro::executor, proxy_header_timeout);
    while (parsed.result == proxy_parse::status::incomplete) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer.data() + have, buffer.size() - have), nothrow);
      if (ec) {
        why = deadline.expired() ? "no complete PROXY protocol header within " + seconds_text(proxy_header_timeout)
                                 : "closed before its PROXY protocol header was complete (" + ec.message() + ")";
        break;
      }
      have += n;
      parsed = parse_proxy_header({start, have});
      if (parsed.result == proxy_parse::status::invalid) why = parsed.error;
    }
  }
  if (parsed.result != proxy_parse::status::complete) {
    context.stats.add("sessions_rejected_proxy");
    if (context.proxy_warnings && context.proxy_warnings->allow())
      context.log.warn("connection from {} closed: {}; rejected so far: {} (proxy_protocol)", record.peer, why,
                       context.stats.get("sessions_rejected_proxy"));
    co_return std::nullopt;
  }
  if (parsed.header.source) record.client = *parsed.header.source;
  const auto length = parsed.header.length;
  co_return proxy_start{std::move(parsed.header), std::span<const std::byte>(buffer.data() + length, have - length)};
}

} // namespace echo
