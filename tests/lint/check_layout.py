#!/usr/bin/env python3
"""The library's floor plan, checked from its #include lines.

lib/echo/ holds three libraries: common/, server/ and client/. Inside server/
and client/, the files at the top are the composition (what builds the
program from its parts); the sub-folders are rooms by concern. The rules:

1. server/ and client/ never include each other; common/ includes neither.
2. Nothing in a room includes a file at the top of its library (no include
   upward): rooms include each other and common/, and the top includes them.
3. No include cycle, between files or between rooms.
4. The client's connection/ and modes/ never include bench/: the load
   generator is built on them, not the other way round.

Prints every breach with the file and line, and exits 1 if there is any.
"""
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(ROOT, "lib")
INCLUDE = re.compile(r'^\s*#\s*include\s+"(echo/[^"]+)"')


def library_files():
    for folder, _, names in os.walk(os.path.join(LIB, "echo")):
        for name in sorted(names):
            if name.endswith((".hpp", ".cpp")):
                path = os.path.join(folder, name)
                yield os.path.relpath(path, LIB)


def includes(path):
    with open(os.path.join(LIB, path), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield number, m.group(1)


def library_of(path):  # "echo/server/tcp/x.hpp" -> "server"
    return path.split("/")[1]


def room_of(path):  # "echo/server/tcp/x.hpp" -> "server/tcp"; "echo/server/x.hpp" -> "server" (the top)
    parts = path.split("/")
    return "/".join(parts[1:-1])


def is_top(path):
    return len(path.split("/")) == 3


def cycles(graph):
    """Every cycle found by a depth-first search, each as a list of nodes."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def main():
    breaches = []
    file_graph = defaultdict(set)
    room_graph = defaultdict(set)
    files = list(library_files())
    for path in files:
        lib = library_of(path)
        for number, target in includes(path):
            where = f"lib/{path}:{number}: includes {target}"
            target_lib = library_of(target)
            if not os.path.exists(os.path.join(LIB, target)):
                breaches.append(f"{where}: no such file")
                continue
            if lib != target_lib and target_lib != "common":
                breaches.append(f"{where}: {lib}/ must not include {target_lib}/")
            if lib == target_lib and lib != "common" and not is_top(path) and is_top(target):
                breaches.append(f"{where}: a room must not include the top of its library (upward)")
            if room_of(path) in ("client/connection", "client/modes") and room_of(target) == "client/bench":
                breaches.append(f"{where}: connection/ and modes/ must not include bench/")
            file_graph[path].add(target)
            if room_of(path) != room_of(target):
                room_graph[room_of(path)].add(room_of(target))
    for cycle in cycles(file_graph):
        breaches.append("include cycle between files: " + " -> ".join(cycle))
    for cycle in cycles(room_graph):
        breaches.append("include cycle between rooms: " + " -> ".join(cycle))
    for b in breaches:
        print(b)
    rooms = sorted({room_of(p) for p in files})
    print(f"layout: {len(files)} files in {len(rooms)} rooms ({', '.join(rooms)}): "
          f"{len(breaches)} breach(es)")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
