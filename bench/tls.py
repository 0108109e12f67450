#!/usr/bin/env python3
"""TLS against plain TCP, side by side in one run, on one echo-server.

    bench/tls.py                 # 3 runs (about a minute and a half)
    bench/tls.py --runs 5 --duration 5

One echo-server serves plain TCP and TLS (a P-256 certificate made here with
`openssl`), pinned to core 0; echo-client --bench (with --tls for the TLS
rows) is pinned to core 1. Within each run the two take turns on every
scenario; the table gives medians over runs and the TLS/plain ratio:

- setup: 500 connections opened one after another (TCP connect, plus the
  TLS 1.3 handshake for TLS): connections per second;
- ping-pong, 100 connections, 1 KiB: requests per second and the server's
  CPU microseconds per request;
- streaming, 10 connections, 64 KiB messages, 4 in flight: MB/s.

Every echoed byte is verified by echo-client. Results go to
bench/results/tls-latest.{json,md}. Builds the release preset first (like
bench/run.py).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the Server class, pinning, build)

SCENARIOS = [
    {"name": "setup: 500 connections one after another", "key": "setup", "unit": "conns/s",
     "args": ["--connections", "500", "--size", "64"], "short": True},
    {"name": "ping-pong 100 conns 1 KiB", "key": "pingpong", "unit": "req/s",
     "args": ["--connections", "100", "--size", "1024"]},
    {"name": "streaming 10 conns 64 KiB", "key": "stream", "unit": "MB/s",
     "args": ["--connections", "10", "--size", "65536", "--pipeline", "4"]},
]


def make_certificate(workdir):
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def measure(server, echo_client, port, scenario, duration, tls):
    args = list(scenario["args"])
    if tls:
        args += ["--tls", "--tls-ca", tls]
    before = server.cpu_seconds()
    report, code = bench.load(echo_client, port, args, 0.2 if scenario.get("short") else duration)
    cpu = server.cpu_seconds() - before
    if code != 0 or report["errors"] or report["mismatches"]:
        raise RuntimeError(f"{scenario['name']} ({'tls' if tls else 'plain'}) failed: {report}")
    if scenario["key"] == "setup":
        return report["connections"] / report["setup_seconds"], None
    value = report["mb_per_s"] if scenario["unit"] == "MB/s" else report["req_per_s"]
    return value, cpu * 1e6 / max(report["requests"], 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--out", default=os.path.join(bench.BENCH, "results"))
    args = parser.parse_args()
    echo_server, echo_client = bench.build(False)

    workdir = tempfile.mkdtemp(prefix="echo-tls-bench-")
    cert, key = make_certificate(workdir)
    rows = {s["key"]: {"plain": [], "tls": [], "plain_cpu": [], "tls_cpu": []} for s in SCENARIOS}
    for run_index in range(args.runs):
        for scenario in SCENARIOS:
            for tls in (False, True) if run_index % 2 == 0 else (True, False):
                # The same server for both: plain TCP on the port it reports,
                # TLS on one chosen free a moment ago.
                tls_port = bench.free_port()
                server = bench.Server([echo_server, "--bind", "127.0.0.1", "--port", "0", "--tcp",
                                       "--max-connections", "0", "--idle-timeout", "0", "--log-level", "info",
                                       "--tls-port", str(tls_port), "--tls-cert", cert, "--tls-key", key])
                try:
                    port = tls_port if tls else server.port
                    value, cpu = measure(server, echo_client, port, scenario, args.duration, cert if tls else None)
                finally:
                    server.stop()
                kind = "tls" if tls else "plain"
                rows[scenario["key"]][kind].append(value)
                if cpu is not None:
                    rows[scenario["key"]][kind + "_cpu"].append(cpu)
                bench.log(f"run {run_index + 1} {scenario['key']} {kind}: {value:.1f} {scenario['unit']}")

    lines = ["| scenario | plain TCP | TLS | TLS / plain | server CPU µs per request, plain / TLS |",
             "| --- | --- | --- | --- | --- |"]
    median = {}
    for scenario in SCENARIOS:
        r = rows[scenario["key"]]
        plain, tls = statistics.median(r["plain"]), statistics.median(r["tls"])
        cpu = (f"{statistics.median(r['plain_cpu']):.2f} / {statistics.median(r['tls_cpu']):.2f}"
               if r["plain_cpu"] else "")
        median[scenario["key"]] = {"plain": plain, "tls": tls, "ratio": tls / plain}
        lines.append(f"| {scenario['name']} | {plain:,.0f} {scenario['unit']} | {tls:,.0f} {scenario['unit']} "
                     f"| {tls / plain:.2f} | {cpu} |")
    bench.write_results(args.out, "tls-latest", {"runs": args.runs, "duration_s": args.duration, "median": median,
                                                 "raw": rows}, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
