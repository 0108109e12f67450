// parse_proxy_header() as a session uses it: called again on everything
// received so far each time more arrives. The verdict (complete, and where
// the header ends; or invalid, and why) must not depend on how TCP split the
// bytes: every 2-way split and a byte at a time must give what the whole
// input in one segment gives, for valid and invalid headers alike.
#include "echo/common/proxy/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using echo::parse_proxy_header;
using echo::proxy_parse;
using status = proxy_parse::status;

using bytes = std::vector<std::uint8_t>;

bytes text(const std::string& s) { return {s.begin(), s.end()}; }

bytes v2(std::uint8_t version_command, std::uint8_t family, const bytes& body, std::size_t claimed) {
  bytes h{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, version_command, family};
  h.push_back(static_cast<std::uint8_t>(claimed >> 8));
  h.push_back(static_cast<std::uint8_t>(claimed & 0xFF));
  h.insert(h.end(), body.begin(), body.end());
  return h;
}
bytes v2(std::uint8_t version_command, std::uint8_t family, const bytes& body) {
  return v2(version_command, family, body, body.size());
}

bytes operator+(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const bytes tcp4_addresses{10, 0, 0, 1, 10, 0, 0, 2, 0x03, 0xE8, 0x23, 0x29};
bytes tcp6_addresses() {
  bytes b(32, 0);
  b[0] = 0x20, b[1] = 0x01, b[15] = 1, b[16] = 0x20, b[17] = 0x01, b[31] = 2;
  return b + bytes{0x03, 0xE8, 0x23, 0x29};
}

// Valid and invalid headers, most followed by data as a client sends it.
std::vector<bytes> corpus() {
  std::vector<bytes> c = {
      // v1, valid
      text("PROXY TCP4 192.0.2.1 198.51.100.2 56324 9001\r\nhello"),
      text("PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n"),
      text("PROXY UNKNOWN\r\n"),
      text("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\ndata\r\n"),
      text("PROXY UNKNOWN x\r\nfoo\nbar\r\n"),
      // v1, invalid: a bare LF or CR anywhere before the CRLF
      text("PROXY UNKNOWN x\nfoo\r\n"),
      text("PROXY UNKNOWN x\rfoo\r\n"),
      text("PROXY UNKNOWN x\r\rfoo\r\n"),
      text("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\n\r\n"),
      text("PROXY \n"),
      text("PROXY\r\n"),
      text("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r"),
      // v1, invalid otherwise
      text("PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n"),
      text("PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n"),
      text("PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n"),
      text("PROXY TCP4 192.0.2.1 198.51.100.2 01 2\r\n"),
      text("PROXY TCP4 192.0.2.1 198.51.100.2 1 65536\r\n"),
      text("PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n"),
      text("PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n"),
      text("PROXY UNKNOWN " + std::string(100, 'x') + "\r\n"),
      text("PROXY UNKNOWN " + std::string(200, 'x')),
      text("proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n"),
      text("PROXYTCP4\r\n"),
      text("GET / HTTP/1.1\r\n\r\n"),
      // v2, valid
      v2(0x21, 0x11, tcp4_addresses) + text("hello"),
      v2(0x21, 0x21, tcp6_addresses()),
      v2(0x20, 0x00, {}),
      v2(0x20, 0x11, tcp4_addresses),
      v2(0x21, 0x00, {}),
      v2(0x21, 0x12, tcp4_addresses),
      v2(0x21, 0x11, tcp4_addresses + bytes{0x02, 0x00, 0x03, 'a', 'b', 'c', 0x05, 0x00, 0x01, 0xFF}) + text("x"),
      v2(0x21, 0x31, bytes(216, 0)),
      // v2, invalid
      v2(0x31, 0x11, tcp4_addresses),
      v2(0x22, 0x11, tcp4_addresses),
      v2(0x21, 0x11, tcp4_addresses, 65535),
      v2(0x21, 0x11, bytes(6, 0)),
      v2(0x21, 0x21, tcp4_addresses),
      v2(0x21, 0x11, tcp4_addresses + bytes{0x02, 0x00, 0x09, 'a'}),
      v2(0x21, 0x11, tcp4_addresses + bytes{0x02, 0x00}),
      bytes{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B, 0x21, 0x11, 0, 0},
      bytes{0x0D, 0x0A, 0x0D, 0x0A, 0x01},
  };
  return c;
}

// What a session concludes when the bytes come in pieces ending at `cuts`
// (then the rest): parse all so far after each piece, stop at a verdict.
proxy_parse fed(const bytes& data, const std::vector<std::size_t>& cuts) {
  for (const auto cut : cuts) {
    auto r = parse_proxy_header({data.data(), cut});
    if (r.result != status::incomplete) return r;
  }
  return parse_proxy_header(data);
}

std::string verdict(const proxy_parse& r) {
  switch (r.result) {
  case status::complete:
    return "complete, " + std::to_string(r.header.length) + " bytes, v" + std::to_string(r.header.version) +
           (r.header.source ? " from " + r.header.source->address().to_string() : std::string());
  case status::invalid:
    return "invalid: " + r.error;
  case status::incomplete:
    break;
  }
  return "incomplete";
}

std::string printable(const bytes& data) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const auto b : data) {
    if (b >= 0x20 && b < 0x7F) {
      out += static_cast<char>(b);
    } else {
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 0xF];
    }
  }
  return out;
}

TEST(ProxyProtocolSplits, EveryTwoWaySplitGivesTheVerdictOfOneSegment) {
  for (const auto& data : corpus()) {
    const auto whole = verdict(parse_proxy_header(data));
    for (std::size_t cut = 1; cut < data.size(); ++cut)
      ASSERT_EQ(verdict(fed(data, {cut})), whole) << printable(data) << " split after " << cut << " bytes";
  }
}

TEST(ProxyProtocolSplits, AByteAtATimeGivesTheVerdictOfOneSegment) {
  for (const auto& data : corpus()) {
    std::vector<std::size_t> every;
    for (std::size_t cut = 1; cut < data.size(); ++cut) every.push_back(cut);
    EXPECT_EQ(verdict(fed(data, every)), verdict(parse_proxy_header(data))) << printable(data);
  }
}

TEST(ProxyProtocolSplits, TheCorpusHoldsBothVerdicts) {
  std::size_t complete = 0;
  std::size_t invalid = 0;
  for (const auto& data : corpus()) {
    const auto r = parse_proxy_header(data);
    complete += r.result == status::complete;
    invalid += r.result == status::invalid;
  }
  EXPECT_EQ(complete, 13u);
  EXPECT_EQ(invalid, 27u);
  EXPECT_EQ(corpus().size(), complete + invalid + 1); // one ends in the middle of its CRLF
}

TEST(ProxyProtocolSplits, ABareLineFeedInAV1LineIsRefusedHoweverItArrives) {
  const auto data = text("PROXY UNKNOWN x\nfoo\r\n");
  EXPECT_EQ(verdict(parse_proxy_header(data)), "invalid: a v1 header ending in LF, not CRLF");
}

} // namespace
