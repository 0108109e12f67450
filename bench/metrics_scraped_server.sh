#!/usr/bin/env bash
# echo-server with --metrics on, scraped once a second while it runs, the
# way Prometheus would (one kept-alive connection). For a side-by-side
# table against the same server without metrics:
#
#   bench/run.py --compare bench/metrics_scraped_server.sh
#
# bench/run.py passes the server's arguments; this adds --metrics on a free
# loopback port, starts the scraper, and execs the server (so the PID that
# is measured is the server's). The scraper inherits the server's CPU
# pinning, so its cost lands on the server's core, and it stops by itself
# when the server is gone. The binary is $ECHO_SERVER, else the release build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
server=${ECHO_SERVER:-$root/build/release/apps/echo-server}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$$" "$port" <<'PY' &
import http.client, os, sys, time
pid, port = int(sys.argv[1]), int(sys.argv[2])
conn = None
while True:
    time.sleep(1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    try:
        conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or b"echo_tcp_sent_bytes_total" not in body:
            print(f"metrics_scraped_server: bad scrape: {response.status}", file=sys.stderr)
    except OSError:
        conn = None  # not listening yet, or gone
PY
exec "$server" "$@" --metrics "127.0.0.1:$port"
