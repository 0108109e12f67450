#include "echo/common/log_safe.hpp"
#include "echo/common/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <string>

namespace {

using echo::log_safe;

TEST(LogSafe, PrintableAsciiPassesUnchanged) {
  EXPECT_EQ(log_safe("echo.example:443 h2,http/1.1 /CN=test client"), "echo.example:443 h2,http/1.1 /CN=test client");
  EXPECT_EQ(log_safe(""), "");
}

TEST(LogSafe, ControlCharactersAndDelAreHexEscapes) {
  EXPECT_EQ(log_safe("a\nb"), "a\\x0ab");
  EXPECT_EQ(log_safe("\r\t"), "\\x0d\\x09");
  EXPECT_EQ(log_safe("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(log_safe(std::string("nul\0", 4)), "nul\\x00");
  EXPECT_EQ(log_safe("\x7f"), "\\x7f");
}

TEST(LogSafe, BackslashAndQuotesAreEscapedSoEscapesReadBack) {
  EXPECT_EQ(log_safe("a\\x0ab"), "a\\\\x0ab");
  EXPECT_EQ(log_safe("it's \"x\""), "it\\x27s \\x22x\\x22");
}

TEST(LogSafe, WellFormedUtf8Passes) {
  EXPECT_EQ(log_safe("caf\xc3\xa9"), "caf\xc3\xa9");           // é
  EXPECT_EQ(log_safe("\xe2\x82\xac"), "\xe2\x82\xac");         // €
  EXPECT_EQ(log_safe("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80"); // U+1F600
  EXPECT_EQ(log_safe("\xe4\xb8\xad\xe6\x96\x87"), "\xe4\xb8\xad\xe6\x96\x87");
}

TEST(LogSafe, BytesThatAreNotUtf8AreHexEscapes) {
  EXPECT_EQ(log_safe("\xff"), "\\xff");
  EXPECT_EQ(log_safe("\xc3"), "\\xc3");                            // cut short
  EXPECT_EQ(log_safe("\xc3("), "\\xc3(");                          // bad continuation
  EXPECT_EQ(log_safe("\xc0\xaf"), "\\xc0\\xaf");                   // overlong '/'
  EXPECT_EQ(log_safe("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");          // overlong, 3 bytes
  EXPECT_EQ(log_safe("\xed\xa0\x80"), "\\xed\\xa0\\x80");          // a surrogate
  EXPECT_EQ(log_safe("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); // past U+10FFFF
  EXPECT_EQ(log_safe("\x80"), "\\x80");                            // a lone continuation byte
}

TEST(LogSafe, InvisibleControlsInUtf8AreHexEscapes) {
  EXPECT_EQ(log_safe("\xc2\x9b"
                     "31m"),
            "\\xc2\\x9b31m"); // U+009B, CSI on some terminals
  EXPECT_EQ(log_safe("a\xe2\x80\xa8"
                     "b"),
            "a\\xe2\\x80\\xa8b");                         // line separator
  EXPECT_EQ(log_safe("\xe2\x80\xae"), "\\xe2\\x80\\xae"); // right-to-left override
  EXPECT_EQ(log_safe("\xe2\x81\xa6"), "\\xe2\\x81\\xa6"); // left-to-right isolate
}

TEST(LogSafe, LongTextIsCutAndSaysHowLongItWas) {
  const std::string long_text(1000, 'a');
  EXPECT_EQ(log_safe(long_text), std::string(256, 'a') + "...[1000 bytes]");
  EXPECT_EQ(log_safe(std::string(256, 'a')), std::string(256, 'a'));
  EXPECT_EQ(log_safe("abcdef", 3), "abc...[6 bytes]");
  // The bound counts the peer's bytes, and never cuts a character in two.
  EXPECT_EQ(log_safe("ab\xc3\xa9", 3), "ab...[4 bytes]");
  EXPECT_EQ(log_safe("\n\n\n\n", 2), "\\x0a\\x0a...[4 bytes]");
}

TEST(LogSafe, NeverLetsALineBreakOrEscapeThrough) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  const auto safe = log_safe(every_byte, every_byte.size());
  for (const char c : safe) {
    const auto byte = static_cast<unsigned char>(c);
    EXPECT_TRUE(byte >= 0x20 && byte != 0x7f) << "byte " << int(byte) << " in " << safe;
  }
}

std::string log_line(echo::log_format format, const std::string& peer_text) {
  std::ostringstream out;
  spdlog::logger logger("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  echo::apply_log_format(logger, format);
  logger.info("SNI '{}'", log_safe(peer_text));
  logger.flush();
  return out.str();
}

TEST(LogSafe, TextAndJsonLogsKeepOneLineEach) {
  const std::string forged = "x\n2026-01-01T00:00:00.000Z info  echo-server: forged\x1b[2J\xff";
  const auto text = log_line(echo::log_format::text, forged);
  EXPECT_EQ(text.find('\n'), text.size() - 1) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find("SNI 'x\\x0a2026-01-01T00:00:00.000Z info  echo-server: forged\\x1b[2J\\xff'"), std::string::npos)
      << text;
  // JSON encodes the same text once: the escapes' backslashes, nothing more.
  const auto json = log_line(echo::log_format::json, forged);
  EXPECT_EQ(json.find('\n'), json.size() - 1) << json;
  EXPECT_NE(json.find(R"("msg":"SNI 'x\\x0a2026-01-01T00:00:00.000Z info  echo-server: forged\\x1b[2J\\xff'")"),
            std::string::npos)
      << json;
}

} // namespace
