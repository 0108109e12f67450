#include "echo/common/proxy/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using echo::parse_proxy_header;
using echo::proxy_header;
using echo::proxy_parse;
using echo::write_proxy_header;
using status = proxy_parse::status;

std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::vector<std::uint8_t> v2(std::uint8_t command, std::uint8_t family, const std::vector<std::uint8_t>& body) {
  std::vector<std::uint8_t> h{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  h.push_back(static_cast<std::uint8_t>(0x20 | command));
  h.push_back(family);
  h.push_back(static_cast<std::uint8_t>(body.size() >> 8));
  h.push_back(static_cast<std::uint8_t>(body.size() & 0xFF));
  h.insert(h.end(), body.begin(), body.end());
  return h;
}

TEST(ProxyProtocol, V1Tcp4) {
  const auto data = bytes("PROXY TCP4 192.0.2.1 198.51.100.2 56324 9001\r\nhello");
  const auto r = parse_proxy_header(data);
  ASSERT_EQ(r.result, status::complete) << r.error;
  EXPECT_EQ(r.header.version, 1);
  EXPECT_EQ(r.header.length, data.size() - 5);
  EXPECT_EQ(r.header.source->address().to_string(), "192.0.2.1");
  EXPECT_EQ(r.header.source->port(), 56324);
  EXPECT_EQ(r.header.destination->port(), 9001);
}

TEST(ProxyProtocol, V1Tcp6AndUnknown) {
  auto r = parse_proxy_header(bytes("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"));
  ASSERT_EQ(r.result, status::complete) << r.error;
  EXPECT_EQ(r.header.source->address().to_string(), "2001:db8::1");
  r = parse_proxy_header(bytes("PROXY UNKNOWN whatever follows\r\n"));
  ASSERT_EQ(r.result, status::complete);
  EXPECT_FALSE(r.header.source);
  r = parse_proxy_header(bytes("PROXY UNKNOWN\r\n"));
  ASSERT_EQ(r.result, status::complete);
}

TEST(ProxyProtocol, EveryPrefixOfAValidHeaderIsIncomplete) {
  for (const auto& whole : {bytes("PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000\r\n"),
                            v2(1, 0x11, {10, 0, 0, 1, 10, 0, 0, 2, 0x03, 0xE8, 0x07, 0xD0})}) {
    for (std::size_t n = 0; n < whole.size(); ++n)
      EXPECT_EQ(parse_proxy_header({whole.data(), n}).result, status::incomplete) << n;
    EXPECT_EQ(parse_proxy_header(whole).result, status::complete);
  }
}

TEST(ProxyProtocol, V1Malformed) {
  const char* bad[] = {
      "PROXY TCP4 10.0.0.1 10.0.0.2 1000\r\n",       "PROXY TCP4 10.0.0.1 10.0.0.2 1000 70000\r\n",
      "PROXY TCP4 ::1 10.0.0.2 1000 2000\r\n",       "PROXY TCP6 10.0.0.1 ::1 1000 2000\r\n",
      "PROXY TCP5 10.0.0.1 10.0.0.2 1000 2000\r\n",  "PROXY TCP4 10.0.0.1 10.0.0.2 01000 2000\r\n",
      "PROXY TCP4  10.0.0.1 10.0.0.2 1000 2000\r\n", "PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000 x\r\n",
      "PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000\n",    "GET / HTTP/1.1\r\n",
      "PROXZ TCP4 10.0.0.1 10.0.0.2 1000 2000\r\n",
  };
  for (const auto* text : bad) EXPECT_EQ(parse_proxy_header(bytes(text)).result, status::invalid) << text;
}

TEST(ProxyProtocol, V1WithoutCrlfIn107BytesIsInvalid) {
  auto line = bytes("PROXY UNKNOWN " + std::string(93, 'x'));
  ASSERT_EQ(line.size(), 107u);
  EXPECT_EQ(parse_proxy_header({line.data(), 106}).result, status::incomplete);
  const auto r = parse_proxy_header(line);
  EXPECT_EQ(r.result, status::invalid);
  EXPECT_NE(r.error.find("107"), std::string::npos);
}

TEST(ProxyProtocol, V2ProxyOverIpv6WithTlvs) {
  std::vector<std::uint8_t> body(36, 0);
  body[15] = 1; // source ::1
  body[31] = 2; // destination ::2
  body[32] = 0x30;
  body[33] = 0x39; // source port 12345
  body[34] = 0x23;
  body[35] = 0x29; // destination port 9001
  for (auto b : {0x02, 0x00, 0x07}) body.push_back(static_cast<std::uint8_t>(b));
  for (char c : std::string("example")) body.push_back(static_cast<std::uint8_t>(c));
  for (auto b : {0x05, 0x00, 0x02, 0xAB, 0xCD, 0x04, 0x00, 0x00}) body.push_back(static_cast<std::uint8_t>(b));
  auto data = v2(1, 0x21, body);
  data.push_back('x');
  const auto r = parse_proxy_header(data);
  ASSERT_EQ(r.result, status::complete) << r.error;
  EXPECT_EQ(r.header.version, 2);
  EXPECT_EQ(r.header.length, data.size() - 1);
  EXPECT_EQ(r.header.source->address().to_string(), "::1");
  EXPECT_EQ(r.header.source->port(), 12345);
  EXPECT_EQ(r.header.destination->port(), 9001);
  EXPECT_EQ(r.header.authority, "example");
  EXPECT_EQ(r.header.unique_id, "abcd");
}

TEST(ProxyProtocol, V2LocalAndUnspec) {
  auto r = parse_proxy_header(v2(0, 0x00, {}));
  ASSERT_EQ(r.result, status::complete) << r.error;
  EXPECT_TRUE(r.header.local);
  EXPECT_FALSE(r.header.source);
  r = parse_proxy_header(v2(0, 0x11, std::vector<std::uint8_t>(12, 0)));
  ASSERT_EQ(r.result, status::complete) << r.error;
  EXPECT_FALSE(r.header.source); // LOCAL: the addresses are not a client's
}

TEST(ProxyProtocol, V2Malformed) {
  EXPECT_EQ(parse_proxy_header(v2(2, 0x11, std::vector<std::uint8_t>(12, 0))).result, status::invalid);
  auto wrong_version = v2(1, 0x11, std::vector<std::uint8_t>(12, 0));
  wrong_version[12] = 0x11;
  EXPECT_EQ(parse_proxy_header(wrong_version).result, status::invalid);
  EXPECT_EQ(parse_proxy_header(v2(1, 0x11, std::vector<std::uint8_t>(11, 0))).result, status::invalid);
  EXPECT_EQ(parse_proxy_header(v2(1, 0x21, std::vector<std::uint8_t>(20, 0))).result, status::invalid);
  auto tlv_past_end = std::vector<std::uint8_t>(12, 0);
  for (int b : {0x02, 0x00, 0x09, int{'a'}, int{'b'}}) tlv_past_end.push_back(static_cast<std::uint8_t>(b));
  EXPECT_EQ(parse_proxy_header(v2(1, 0x11, tlv_past_end)).result, status::invalid);
}

TEST(ProxyProtocol, V2ClaimingTooManyBytesIsInvalidAtOnce) {
  auto header = v2(1, 0x11, {});
  header[14] = 0xFF;
  header[15] = 0xFF; // 65535 bytes to follow
  const auto r = parse_proxy_header(header);
  EXPECT_EQ(r.result, status::invalid);
  EXPECT_NE(r.error.find("65551 bytes"), std::string::npos) << r.error;
}

} // namespace

// One codec for both programs: what echo-client writes, echo-server reads
// back field for field, for every version, family and TLV it writes.
namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

proxy_header header_of(int version, const char* from, unsigned short from_port, const char* to,
                       unsigned short to_port) {
  proxy_header h;
  h.version = version;
  h.source = tcp::endpoint(make_address(from), from_port);
  h.destination = tcp::endpoint(make_address(to), to_port);
  return h;
}

void expect_round_trip(proxy_header h) {
  const auto bytes = write_proxy_header(h);
  const auto r = parse_proxy_header({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  ASSERT_EQ(r.result, status::complete) << r.error;
  h.length = bytes.size();
  EXPECT_EQ(r.header.version, h.version);
  EXPECT_EQ(r.header.local, h.local);
  EXPECT_EQ(r.header.source, h.source);
  EXPECT_EQ(r.header.destination, h.destination);
  EXPECT_EQ(r.header.length, h.length);
  EXPECT_EQ(r.header.authority, h.authority);
  EXPECT_EQ(r.header.unique_id, h.unique_id);
}

TEST(ProxyProtocolRoundTrip, EveryVersionAndFamily) {
  for (const int version : {1, 2}) {
    SCOPED_TRACE(version);
    expect_round_trip(header_of(version, "192.0.2.10", 51234, "198.51.100.1", 9001));
    expect_round_trip(header_of(version, "2001:db8::1", 0, "2001:db8::2", 65535));
    expect_round_trip(header_of(version, "0.0.0.0", 1, "255.255.255.255", 2));
  }
}

TEST(ProxyProtocolRoundTrip, TlvsLocalAndUnknown) {
  auto h = header_of(2, "10.0.0.1", 4000, "10.0.0.2", 443);
  h.authority = "echo.example.org";
  h.unique_id = "00ff10abcdef";
  expect_round_trip(h);

  proxy_header local;
  local.version = 2;
  local.local = true;
  expect_round_trip(local); // a balancer's own health check: no client

  proxy_header unknown;
  unknown.version = 1; // PROXY UNKNOWN: no addresses
  expect_round_trip(unknown);
}

TEST(ProxyProtocolRoundTrip, MappedAddressesAreWrittenAsIpv4) {
  const auto h = header_of(1, "::ffff:192.0.2.7", 1234, "::ffff:192.0.2.8", 9001);
  EXPECT_EQ(write_proxy_header(h), "PROXY TCP4 192.0.2.7 192.0.2.8 1234 9001\r\n");
  const auto v2 = write_proxy_header(header_of(2, "::ffff:192.0.2.7", 1234, "::ffff:192.0.2.8", 9001));
  EXPECT_EQ(v2.size(), 16u + 12u);
  EXPECT_EQ(v2[13], 0x11); // TCP over IPv4
}

} // namespace
