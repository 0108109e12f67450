#!/usr/bin/env python3
"""Fails when code outside the reactor room includes boost/asio/detail or
names boost::asio::detail.

Asio's detail headers are its private code, free to change in any release.
echo-server uses them in one place, lib/echo/server/reactor/, which stops
the build on any Boost other than the one it was checked against; anywhere
else such an include would break silently on the next Boost. The room's own
unit tests (tests/unit/server/reactor/) may include them too.

Run by CTest as lint.asio_detail_only_in_reactor; by hand:
  tests/lint/check_asio_detail.py [project root]
"""

import pathlib
import re
import sys

SEARCHED = ("lib", "apps", "tests")
ALLOWED = ("lib/echo/server/reactor/", "tests/unit/server/reactor/")
SOURCES = {".c", ".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp", ".hxx", ".inl", ".ipp", ".ixx", ".tpp"}
# `#include <boost/asio/detail/...>` or with quotes, any spacing around the
# '#'. Mentions in comments or strings are not includes and do not count.
# An include of a detail header, or a detail name reached through a public
# header (asio::detail::socket_option, ...), which breaks as silently.
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]boost/asio/detail/|\basio::detail::', re.MULTILINE)


def offenders(root):
    for top in SEARCHED:
        for path in sorted((root / top).rglob("*")):
            if not path.is_file() or path.suffix not in SOURCES:
                continue
            relative = path.relative_to(root).as_posix()
            if relative.startswith(ALLOWED):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in INCLUDE.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                yield f"{relative}:{line}: {text.splitlines()[line - 1].strip()}"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent.parent)
    if not all((root / top).is_dir() for top in SEARCHED):
        print(f"check_asio_detail: {root} does not look like the project root", file=sys.stderr)
        return 2
    found = list(offenders(root))
    if found:
        print("check_asio_detail: boost/asio/detail is included outside lib/echo/server/reactor/:", file=sys.stderr)
        for line in found:
            print(f"  {line}", file=sys.stderr)
        print("Asio's internals belong in the reactor room, behind its Boost version check "
              "(see lib/echo/server/reactor/socket_internals.hpp).", file=sys.stderr)
        return 1
    print(f"check_asio_detail: no boost/asio/detail include outside {', '.join(ALLOWED)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
