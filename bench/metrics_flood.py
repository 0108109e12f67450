#!/usr/bin/env python3
"""Echo with and without a scrape flood on the metrics endpoint, side by side.

    bench/metrics_flood.py                      # 5 runs x 5 s, 8 scrapers (about 2 minutes)
    bench/metrics_flood.py --runs 3 --duration 3 --scrapers 8
    bench/metrics_flood.py --compare OLD/echo-server   # an older build too, in the same runs

One echo-server with `--metrics` is pinned to core 0; the echo load (the C
epoll load generator, 50 connections, 64 B ping-pong, every echoed byte
compared) to core 1. In each run
every server is measured twice, in alternating order: alone, and while
`--scrapers` clients ask for /metrics back to back, each on one kept-open
connection (a new request as soon as the answer is in; a new connection if
the server closes one), the way a misbehaving or hostile scraper would. The
scrapers share core 1 with the load (they are one process, pinned with it).
The table gives, per server, the medians over runs of the echo rate alone,
under the flood, their ratio (the goal: 0.90 or more), the scrapes per
second the flood got answered, the server's CPU per echo, and the share of
a core the server spends on the flood with no echo load at all (a CPU
figure, which other load on the machine barely moves, unlike the rates). Results go to bench/results/metrics-flood-latest.{json,md}. Builds the
release preset first (like bench/run.py).
"""

import argparse
import json
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the Server class, pinning, build)

CONNECTIONS, SIZE = 50, 64
REQUEST = b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.I)


def scrape_until_terminated(port, count):
    """The flood (run as a child process): `count` connections, each asking
    again as soon as its answer is complete. Prints how many answers came
    when SIGTERM ends it."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    selector = selectors.DefaultSelector()
    answers = 0

    def open_one():
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        s.send(REQUEST)
        selector.register(s, selectors.EVENT_READ, bytearray())

    for _ in range(count):
        open_one()
    print("ready", flush=True)
    while not stop:
        for key, _ in selector.select(0.2):
            s, buffered = key.fileobj, key.data
            try:
                chunk = s.recv(1 << 18)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if not chunk:  # closed by the server (request budget, eviction): reconnect
                selector.unregister(s)
                s.close()
                open_one()
                continue
            buffered += chunk
            while (end := buffered.find(b"\r\n\r\n")) >= 0:
                length = CONTENT_LENGTH.search(bytes(buffered[:end + 2]))
                total = end + 4 + (int(length.group(1)) if length else 0)
                if len(buffered) < total:
                    break
                del buffered[:total]
                answers += 1
                s.send(REQUEST)
    print(answers, flush=True)


class Flood:
    def __init__(self, port, count):
        self.proc = subprocess.Popen(["taskset", "-c", bench.LOAD_CORE, sys.executable, os.path.abspath(__file__),
                                      "--scrape", str(port), str(count)], stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise RuntimeError("the scrapers did not start")
        self.started = time.monotonic()

    def stop(self):
        """Answers a second while it ran."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return int(out.split()[-1]) / (time.monotonic() - self.started)


def measure(echo_server, duration, scrapers):
    """(echo req/s, server CPU µs per echo request, scrapes answered a second)."""
    metrics_port = bench.free_port()
    server = bench.Server([echo_server, "--bind", "127.0.0.1", "--port", "0", "--tcp", "--max-connections", "0",
                           "--idle-timeout", "0", "--log-level", "info", "--metrics", f"127.0.0.1:{metrics_port}"])
    flood = None
    try:
        flood = Flood(metrics_port, scrapers) if scrapers else None
        before = server.cpu_seconds()
        out = subprocess.run(["taskset", "-c", bench.LOAD_CORE, os.path.join(bench.BUILD, "epoll_load_generator"),
                              "127.0.0.1", str(server.port), str(CONNECTIONS), str(SIZE), str(duration)],
                             capture_output=True, timeout=duration + 60)
        cpu = server.cpu_seconds() - before
        scrapes = flood.stop() if flood else 0.0
        flood = None
    finally:
        if flood:
            flood.proc.kill()
            flood.proc.wait()
        server.stop()
    if out.returncode != 0 or not out.stdout:
        raise RuntimeError(f"echo load failed: {out.stderr.decode(errors='replace')[-2000:]}")
    report = json.loads(out.stdout)
    if report["mismatches"]:
        raise RuntimeError(f"echo load saw mismatches: {report}")
    return report["req_per_s"], cpu * 1e6 / max(report["requests"], 1), scrapes


def flood_cost(echo_server, duration, scrapers):
    """The share of a core the server spends on the flood alone, no echo load:
    CPU seconds a second, which the machine's other load barely moves."""
    metrics_port = bench.free_port()
    server = bench.Server([echo_server, "--bind", "127.0.0.1", "--port", "0", "--tcp", "--log-level", "info",
                           "--metrics", f"127.0.0.1:{metrics_port}"])
    try:
        flood = Flood(metrics_port, scrapers)
        try:
            before, started = server.cpu_seconds(), time.monotonic()
            time.sleep(duration)  # the measurement window
            return (server.cpu_seconds() - before) / (time.monotonic() - started)
        finally:
            flood.stop()
    finally:
        server.stop()


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--scrape":
        scrape_until_terminated(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--scrapers", type=int, default=8)
    parser.add_argument("--compare", action="append", default=[], help="another echo-server binary to measure")
    parser.add_argument("--out", default=os.path.join(bench.BENCH, "results"))
    args = parser.parse_args()
    echo_server, _ = bench.build(False)
    servers = [echo_server, *args.compare]

    raw = {s: {"alone": [], "flooded": [], "ratio": [], "scrapes_per_s": [], "cpu_alone": [], "cpu_flooded": [],
               "flood_cpu_share": []} for s in servers}
    for run_index in range(args.runs):
        for server in servers:
            order = (0, args.scrapers) if run_index % 2 == 0 else (args.scrapers, 0)
            got = {}
            for scrapers in order:
                got[scrapers] = measure(server, args.duration, scrapers)
            (alone, cpu_alone, _), (flooded, cpu_flooded, scrapes) = got[0], got[args.scrapers]
            r = raw[server]
            r["alone"].append(alone)
            r["flooded"].append(flooded)
            r["ratio"].append(flooded / alone)
            r["scrapes_per_s"].append(scrapes)
            r["cpu_alone"].append(cpu_alone)
            r["cpu_flooded"].append(cpu_flooded)
            r["flood_cpu_share"].append(flood_cost(server, args.duration, args.scrapers))
            bench.log(f"run {run_index + 1} {server}: alone {alone:,.0f} req/s, with {args.scrapers} scrapers "
                      f"{flooded:,.0f} req/s (ratio {flooded / alone:.3f}), {scrapes:,.0f} scrapes/s; the flood alone "
                      f"takes {r['flood_cpu_share'][-1]:.3f} of a core")

    lines = [f"{args.runs} runs x {args.duration:g} s; epoll_load_generator, {CONNECTIONS} connections x "
             f"{SIZE} B ping-pong on core 1, "
             f"the server on core 0, {args.scrapers} back-to-back keep-alive scrapers on core 1", "",
             f"| server | echo alone | echo with {args.scrapers} scrapers | ratio (median) | ratios | scrapes/s "
             "| server CPU µs per echo, alone / flooded | server CPU share, flood alone |",
             "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    median = {}
    for server in servers:
        r = raw[server]
        m = {k: statistics.median(v) for k, v in r.items()}
        median[server] = m
        lines.append(f"| {server} | {m['alone']:,.0f} | {m['flooded']:,.0f} | {m['ratio']:.3f} | "
                     f"{' '.join(f'{x:.2f}' for x in r['ratio'])} | {m['scrapes_per_s']:,.0f} | "
                     f"{m['cpu_alone']:.2f} / {m['cpu_flooded']:.2f} | {m['flood_cpu_share']:.3f} |")
    bench.write_results(args.out, "metrics-flood-latest",
                        {"runs": args.runs, "duration_s": args.duration, "scrapers": args.scrapers,
                         "connections": CONNECTIONS, "size": SIZE, "median": median, "raw": raw},
                        "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
