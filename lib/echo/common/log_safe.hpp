#pragma once

// log_safe(): a string a peer chose (TLS SNI, ALPN, certificate names, PROXY
// v2 AUTHORITY and UNIQUE_ID, ...) made fit for one log line. A peer's
// newline must not start a forged line, its escape sequences must not reach
// an operator's terminal, and its megabyte must not become ours.
//
// Printable ASCII and well-formed UTF-8 pass unchanged. Every other byte is
// written as \xNN (two lowercase hex digits): the C0 controls, DEL, bytes
// that are not well-formed UTF-8 (overlong forms and surrogates included),
// and the UTF-8 bytes of the C1 controls (U+0080-U+009F; a terminal may take
// U+009B as CSI), the line and paragraph separators (U+2028, U+2029) and the
// bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069). A
// backslash is written \\, and the quotes the logs put around such strings
// as \x27 and \x22, so the escapes read back unambiguously. At most
// `limit` bytes of `text` are shown (never half a UTF-8 character); when
// more came, "...[N bytes]" follows, N being the whole length.
//
// The result is printable ASCII and UTF-8 only, so JSON logs encode it as
// they encode any message, and a JSON consumer reads the same escapes a
// text log shows.

#include <cstddef>
#include <string>
#include <string_view>

namespace echo {

inline constexpr std::size_t log_safe_limit = 256;

std::string log_safe(std::string_view text, std::size_t limit = log_safe_limit);

} // namespace echo
