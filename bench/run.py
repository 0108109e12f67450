#!/usr/bin/env python3
"""Benchmarks echo-server side by side with baselines, in one run.

    bench/run.py                # the full table: 3 runs, 5 s a scenario (about 12 minutes)
    bench/run.py --runs 5 --duration 10
    bench/run.py --compare OLD/echo-server   # add an older build to the table, side by side
    bench/run.py --smoke        # CI: seconds, echo-server and the epoll baseline,
                                # checks that everything works and every byte is verified

Each server is pinned to core 0 and the load (echo-client --bench) to core 1
with taskset. For every scenario and server it records req/s (MB/s for
streaming), p99 latency, the server's CPU microseconds per request
(utime+stime from /proc/PID/stat over the run) and, in the idle scenario,
RSS per held connection. Servers take turns within each run; the table gives
medians over runs and ratios to the epoll baseline of the same run.
Results: bench/results/latest.{json,md} (and a timestamped copy).
"""

import argparse
import datetime
import json
import os
import re
import resource
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
BUILD = None  # where the C baselines are: set by build()
SERVER_CORE, LOAD_CORE = "0", "1"
# Debian's interpreter, which has python3-uvloop (another python3 may come first on PATH).
DEBIAN_PYTHON = "/usr/bin/python3"

SCENARIOS = [
    {"name": "tcp ping-pong 1 conn 64 B", "key": "tcp_1x64", "args": ["--connections", "1", "--size", "64"]},
    {"name": "tcp ping-pong 100 conns 1 KiB", "key": "tcp_100x1k", "args": ["--connections", "100", "--size", "1024"]},
    {"name": "tcp ping-pong 1000 conns 64 B", "key": "tcp_1000x64", "args": ["--connections", "1000", "--size", "64"]},
    {"name": "tcp streaming 10 conns 64 KiB", "key": "tcp_stream", "metric": "mb_per_s",
     "args": ["--connections", "10", "--size", "65536", "--pipeline", "4"]},
    {"name": "udp 10 sockets 512 B", "key": "udp_10x512", "args": ["--udp", "--connections", "10", "--size", "512"]},
    {"name": "udp 100 sockets 512 B", "key": "udp_100x512",
     "args": ["--udp", "--connections", "100", "--size", "512"]},
    # Connect, echo 64 B, close, again: 4 workers over 4 source addresses.
    {"name": "tcp churn 64 B", "key": "tcp_churn",
     "args": ["--churn", "--connections", "4", "--size", "64", "--source", "127.0.0.2", "--source", "127.0.0.3",
              "--source", "127.0.0.4", "--source", "127.0.0.5"]},
]


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def free_port():
    """A loopback TCP port free a moment ago, for a server told which port to use."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_results(out, stem, result, table):
    """`result` as OUT/STEM.json and the markdown `table` as OUT/STEM.md; prints the table."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{stem}.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(out, f"{stem}.md"), "w") as f:
        f.write(table)
    print(table)


def sh(args, **kwargs):
    return subprocess.run(args, check=True, **kwargs)


def build(smoke):
    """The binaries to measure. CTest's bench smoke test hands over what the
    build made (ECHO_SERVER, ECHO_CLIENT, ECHO_BENCH_BASELINES); run by hand,
    this installs what is missing and builds the release preset first."""
    global BUILD
    if os.environ.get("ECHO_BENCH_BASELINES"):
        BUILD = os.environ["ECHO_BENCH_BASELINES"]
    else:
        sh([os.path.join(ROOT, "scripts", "deps")] + ([] if smoke else ["bench"]))
        preset = os.environ.get("ECHO_BENCH_PRESET", "release")
        sh([os.path.join(ROOT, "scripts", "build"), preset], stdout=subprocess.DEVNULL)
        BUILD = os.path.join(ROOT, "build", preset, "bench")
    apps = os.path.join(os.path.dirname(BUILD), "apps")
    return (os.environ.get("ECHO_SERVER", os.path.join(apps, "echo-server")),
            os.environ.get("ECHO_CLIENT", os.path.join(apps, "echo-client")))


def server_commands(echo_server, smoke):
    servers = {
        "echo-server": [echo_server, "--bind", "127.0.0.1", "--port", "0", "--udp-rate-limit", "0",
                        "--max-connections", "0", "--idle-timeout", "0", "--log-level", "info"],
        "epoll (C)": [os.path.join(BUILD, "epoll_echo_server"), "0"],
    }
    # Diagnostic, only when asked for with --servers: the epoll baseline plus
    # the one epoll_ctl per message that Asio's async_wait costs.
    servers["epoll re-arm (C)"] = [os.path.join(BUILD, "epoll_echo_server"), "0", "127.0.0.1", "rearm"]
    if not smoke:
        servers["asyncio"] = [DEBIAN_PYTHON, os.path.join(BENCH, "asyncio_echo_server.py"), "0"]
        servers["uvloop"] = [DEBIAN_PYTHON, os.path.join(BENCH, "asyncio_echo_server.py"), "0", "--uvloop"]
        servers["node"] = ["node", os.path.join(BENCH, "node_echo_server.js"), "0"]
    return servers


def raise_descriptor_limit():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """A server pinned to SERVER_CORE; knows its port once it says so."""

    LISTENING = re.compile(rb"listening (?:tcp )?(?:\S*:)?(\d+)")

    def __init__(self, command):
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, *command], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     preexec_fn=raise_descriptor_limit)
        self.port = None
        seen = b""
        end = time.monotonic() + 20
        while self.port is None and time.monotonic() < end:
            ready, _, _ = select.select([self.proc.stdout, self.proc.stderr], [], [], 0.2)
            for stream in ready:
                seen += os.read(stream.fileno(), 4096)
            match = self.LISTENING.search(seen)
            if match:
                self.port = int(match.group(1))
            if self.proc.poll() is not None:
                break
        if self.port is None:
            self.stop()
            raise RuntimeError(f"{command[0]} did not start: {seen.decode(errors='replace')}")
        # Keep the pipes drained so a chatty server never blocks on them.
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.proc.stdout = self.proc.stderr = None

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def load(echo_client, port, args, duration):
    command = ["taskset", "-c", LOAD_CORE, echo_client, "127.0.0.1", "-p", str(port), "--bench",
               "--duration", str(duration), "--json", "--timeout", "2", *args]
    out = subprocess.run(command, capture_output=True, timeout=duration + 120, preexec_fn=raise_descriptor_limit)
    if not out.stdout:
        raise RuntimeError(f"echo-client failed: {out.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(out.stdout), out.returncode


def measure(server_command, echo_client, scenario, duration):
    server = Server(server_command)
    try:
        before = server.cpu_seconds()
        report, code = load(echo_client, server.port, scenario["args"], duration)
        cpu = server.cpu_seconds() - before
    finally:
        server.stop()
    requests = max(report["requests"], 1)
    return {
        "req_per_s": report["req_per_s"], "mb_per_s": report["mb_per_s"], "p99_us": report["latency_us"]["p99"],
        "cpu_us_per_req": cpu * 1e6 / requests, "requests": report["requests"], "errors": report["errors"],
        "mismatches": report["mismatches"], "lost": report["lost"], "exit_code": code,
    }


def hold_idle(server_command, connections):
    """RSS the server adds per connection held open after one echo each."""
    server = Server(server_command)
    socks = []
    try:
        warm = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        warm.sendall(b"warm")
        warm.recv(16)
        warm.close()
        time.sleep(0.2)
        before = server.rss_kib()
        for i in range(connections):
            s = socket.socket()
            s.bind((f"127.0.0.{2 + i % 4}", 0))
            s.settimeout(30)
            s.connect(("127.0.0.1", server.port))
            socks.append(s)
        for s in socks:
            s.sendall(b"x")
        for s in socks:
            if s.recv(1) != b"x":
                raise RuntimeError("idle connection did not echo")
        time.sleep(0.5)
        after = server.rss_kib()
        return {"connections": connections, "rss_bytes_per_conn": (after - before) * 1024 / connections,
                "rss_before_kib": before, "rss_after_kib": after}
    finally:
        for s in socks:
            s.close()
        server.stop()


def many_connections(echo_server, echo_client, count, duration):
    """`count` connections held at once, every one of them echoing."""
    server = Server([echo_server, "--bind", "127.0.0.1", "--port", "0", "--max-connections", "0",
                     "--idle-timeout", "0", "--log-level", "info"])
    try:
        sources = []
        for i in range(max(1, (count + 19999) // 20000 * 2)):
            sources += ["--source", f"127.0.0.{2 + i}"]
        report, code = load(echo_client, server.port,
                            ["--connections", str(count), "--size", "64", *sources], duration)
    finally:
        server.stop()
    return {"connections": count, "connections_echoed": report["connections_echoed"],
            "requests": report["requests"], "errors": report["errors"], "mismatches": report["mismatches"],
            "exit_code": code}


def client_comparison(echo_server, echo_client, duration):
    """echo-client --bench against the minimal C epoll load generator, same server."""
    results = {}
    for name in ("epoll load generator (C)", "echo-client --bench"):
        server = Server([echo_server, "--bind", "127.0.0.1", "--port", "0", "--log-level", "info",
                         "--max-connections", "0", "--idle-timeout", "0"])
        try:
            if name.startswith("epoll"):
                out = subprocess.run(["taskset", "-c", LOAD_CORE, os.path.join(BUILD, "epoll_load_generator"),
                                      "127.0.0.1", str(server.port), "100", "64", str(duration)],
                                     capture_output=True, timeout=duration + 60)
                results[name] = json.loads(out.stdout)["req_per_s"]
            else:
                report, _ = load(echo_client, server.port, ["--connections", "100", "--size", "64"], duration)
                results[name] = report["req_per_s"]
        finally:
            server.stop()
    return results


def median_table(runs, baseline):
    """{scenario: {server: {metric: median}}} plus ratios to `baseline`."""
    table = {}
    for run in runs:
        for key, by_server in run["scenarios"].items():
            for server, result in by_server.items():
                for metric, value in result.items():
                    table.setdefault(key, {}).setdefault(server, {}).setdefault(metric, []).append(value)
    for key, by_server in table.items():
        for server, metrics in by_server.items():
            for metric, values in metrics.items():
                metrics[metric] = statistics.median(values)
        base = by_server.get(baseline)
        for server, metrics in by_server.items():
            if base:
                for metric in ("req_per_s", "mb_per_s", "cpu_us_per_req", "rss_bytes_per_conn"):
                    if metric in metrics and base.get(metric):
                        metrics[metric + "_ratio"] = metrics[metric] / base[metric]
    return table


def markdown(table, servers, extra):
    lines = ["| scenario | server | req/s | MB/s | p99 µs | server CPU µs/req | req/s ratio | CPU/req ratio |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for scenario in SCENARIOS:
        rows = table.get(scenario["key"], {})
        for server in servers:
            m = rows.get(server)
            if not m:
                continue
            ratio_metric = "mb_per_s_ratio" if scenario.get("metric") == "mb_per_s" else "req_per_s_ratio"
            lines.append(
                f"| {scenario['name']} | {server} | {m['req_per_s']:,.0f} | {m['mb_per_s']:,.1f} | {m['p99_us']:,.0f} "
                f"| {m['cpu_us_per_req']:.2f} | {m.get(ratio_metric, 1):.2f} | {m.get('cpu_us_per_req_ratio', 1):.2f} |")
    idle = table.get("idle", {})
    if idle:
        lines += ["", "| idle connections | server | RSS bytes per connection | ratio |", "| --- | --- | ---: | ---: |"]
        for server in servers:
            m = idle.get(server)
            if m:
                lines.append(f"| {int(m['connections']):,} | {server} | {m['rss_bytes_per_conn']:,.0f} "
                             f"| {m.get('rss_bytes_per_conn_ratio', 1):.2f} |")
    for title, value in extra.items():
        lines += ["", f"**{title}**: `{json.dumps(value)}`"]
    return "\n".join(lines) + "\n"


def chart_data(table, servers, path):
    """Columns for gnuplot: scenario, then the req/s (MB/s) ratio of each server."""
    with open(path, "w") as f:
        f.write("scenario\t" + "\t".join(f'"{s}"' for s in servers) + "\n")
        for scenario in SCENARIOS:
            rows = table.get(scenario["key"], {})
            metric = "mb_per_s_ratio" if scenario.get("metric") == "mb_per_s" else "req_per_s_ratio"
            f.write(f'"{scenario["name"]}"\t' + "\t".join(f"{rows.get(s, {}).get(metric, 0):.3f}" for s in servers) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument("--many-connections", type=int, default=19000)
    parser.add_argument("--smoke", action="store_true", help="a few seconds; checks correctness, not speed")
    parser.add_argument("--servers", help="comma-separated subset, e.g. 'echo-server,epoll (C)'")
    parser.add_argument("--scenarios", help="comma-separated scenario keys, e.g. tcp_1000x64,udp_10x512 (idle included)")
    parser.add_argument("--no-idle", action="store_true", help="skip the idle-connections scenario")
    parser.add_argument("--out", default=os.path.join(BENCH, "results"))
    parser.add_argument("--compare", metavar="ECHO_SERVER", action="append", default=[],
                        help="also measure this echo-server binary (e.g. a build of an older commit, or a "
                             "script that execs echo-server with other options), as 'echo-server (compare)' "
                             "or, given more than once, 'echo-server (NAME)' with the file's name")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.duration, args.idle_connections, args.many_connections = 1, 0.5, 200, 0
    raise_descriptor_limit()

    echo_server, echo_client = build(args.smoke)
    servers = server_commands(echo_server, args.smoke)
    for compare in args.compare:
        name = "compare" if len(args.compare) == 1 else os.path.basename(compare)
        servers[f"echo-server ({name})"] = [os.path.abspath(compare)] + servers["echo-server"][1:]
    if args.servers:
        wanted = [name.strip() for name in args.servers.split(",")]
        servers = {name: command for name, command in servers.items() if name in wanted}
    else:
        del servers["epoll re-arm (C)"]
    scenarios = SCENARIOS
    if args.scenarios:
        keys = args.scenarios.split(",")
        scenarios = [s for s in SCENARIOS if s["key"] in keys]
        args.no_idle = args.no_idle or "idle" not in keys
    runs = []
    failures = []
    for run_number in range(1, args.runs + 1):
        run = {"scenarios": {}}
        for scenario in scenarios:
            for name, command in servers.items():
                log(f"run {run_number}/{args.runs}: {scenario['name']}: {name}")
                result = measure(command, echo_client, scenario, args.duration)
                if result["errors"] or result["mismatches"] or not result["requests"] or result["exit_code"]:
                    failures.append(f"{scenario['name']} / {name}: {result}")
                run["scenarios"].setdefault(scenario["key"], {})[name] = result
        for name, command in ([] if args.no_idle else servers.items()):
            log(f"run {run_number}/{args.runs}: {args.idle_connections} idle connections: {name}")
            run["scenarios"].setdefault("idle", {})[name] = hold_idle(command, args.idle_connections)
        runs.append(run)

    extra = {}
    if args.many_connections:
        log(f"{args.many_connections} concurrent connections, each echoing")
        extra["concurrent connections"] = many_connections(echo_server, echo_client, args.many_connections,
                                                           max(args.duration, 5))
        if extra["concurrent connections"]["connections_echoed"] != args.many_connections:
            failures.append(f"concurrent connections: {extra['concurrent connections']}")
    if not args.smoke and not args.scenarios and not args.servers:
        log("load generator comparison")
        comparison = client_comparison(echo_server, echo_client, args.duration)
        values = list(comparison.values())
        comparison["ratio"] = values[1] / values[0]
        extra["load generators, 100 conns 64 B against echo-server"] = comparison

    table = median_table(runs, "epoll (C)")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    result = {"when": stamp, "runs": args.runs, "duration_s": args.duration, "median": table, "extra": extra,
              "raw": runs, "machine": {"cores": os.cpu_count(), "kernel": os.uname().release}}
    text = markdown(table, list(servers), extra)
    for name in (f"{stamp}", "latest"):
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(result, f, indent=1)
        with open(os.path.join(args.out, f"{name}.md"), "w") as f:
            f.write(text)
    chart_data(table, list(servers), os.path.join(args.out, "latest.dat"))
    if shutil.which("gnuplot") and not args.smoke:
        sh(["gnuplot", "-e", f"data='{os.path.join(args.out, 'latest.dat')}'; out='{os.path.join(args.out, 'latest.png')}'",
            os.path.join(BENCH, "chart.gp")])
    print(text)
    if failures:
        log("FAILED:\n" + "\n".join(failures))
        return 1
    log(f"bench {'smoke ' if args.smoke else ''}ok: every echoed byte verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
