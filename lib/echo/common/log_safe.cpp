#include "echo/common/log_safe.hpp"

#include <cstdint>

namespace echo {
namespace {

// The length of the well-formed UTF-8 character at the start of `text`
// (2 to 4 bytes; RFC 3629: no overlong forms, no surrogates, nothing past
// U+10FFFF), or 0 when it is not one. `code` is set to its code point.
std::size_t utf8_length(std::string_view text, char32_t& code) {
  const auto byte = [&text](std::size_t i) { return static_cast<std::uint8_t>(text[i]); };
  const std::uint8_t lead = byte(0);
  std::size_t length = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    code = lead & 0x1fU;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    code = lead & 0x0fU;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    code = lead & 0x07U;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0U) != 0x80) return 0;
    code = (code << 6U) | (byte(i) & 0x3fU);
  }
  const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
  const bool surrogate = code >= 0xd800 && code <= 0xdfff;
  if (overlong || surrogate || code > 0x10ffff) return 0;
  return length;
}

// Code points that pass UTF-8's rules but still act on a terminal or a
// reader: C1 controls, line and paragraph separators, bidi controls.
bool is_hidden_control(char32_t code) {
  return (code >= 0x80 && code <= 0x9f) || (code >= 0x2028 && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
}

void append_escaped(std::string& out, std::uint8_t byte) {
  static constexpr char hex[] = "0123456789abcdef";
  out += "\\x";
  out += hex[byte >> 4U];
  out += hex[byte & 0xfU];
}

} // namespace

std::string log_safe(std::string_view text, std::size_t limit) {
  std::string out;
  out.reserve(text.size() < limit ? text.size() : limit);
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<std::uint8_t>(text[i]);
    if (byte >= 0x20 && byte < 0x7f) {
      if (i + 1 > limit) break;
      if (byte == '\\')
        out += "\\\\";
      else if (byte == '\'' || byte == '"')
        append_escaped(out, byte);
      else
        out += static_cast<char>(byte);
      ++i;
      continue;
    }
    char32_t code = 0;
    const std::size_t length = byte >= 0x80 ? utf8_length(text.substr(i), code) : 0;
    if (i + (length == 0 ? 1 : length) > limit) break;
    if (length == 0) {
      append_escaped(out, byte);
      ++i;
    } else {
      for (std::size_t k = 0; k < length; ++k) {
        const auto part = static_cast<std::uint8_t>(text[i + k]);
        if (is_hidden_control(code))
          append_escaped(out, part);
        else
          out += static_cast<char>(part);
      }
      i += length;
    }
  }
  if (i < text.size()) out += "...[" + std::to_string(text.size()) + " bytes]";
  return out;
}

} // namespace echo
