#!/usr/bin/env bash
# N echo-server processes sharing one port with --reuse-port (N from
# $ECHO_REUSE_PORT_PROCESSES, default 2), for a side-by-side table against one
# process:
#
#   bench/run.py --compare bench/reuse_port_servers.sh
#
# bench/run.py passes the server's arguments (with --port 0); this picks a
# free port for all of them, starts N-1 in the background and execs the last,
# so the PID bench/run.py measures is one of the N: its req/s and latency are
# the whole service's, its CPU per request only that one process's share.
# The others inherit the CPU pinning and stop when the measured one is gone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
server=${ECHO_SERVER:-$root/build/release/apps/echo-server}
n=${ECHO_REUSE_PORT_PROCESSES:-2}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
args=()
while [[ $# -gt 0 ]]; do
  if [[ $1 == --port ]]; then args+=(--port "$port"); shift 2; else args+=("$1"); shift; fi
done
pids=()
for ((i = 1; i < n; ++i)); do
  # Their log lines would repeat the measured one's: not wanted on its stderr.
  "$server" "${args[@]}" --reuse-port 2>/dev/null &
  pids+=($!)
done
# Stops the background ones once the exec'd one (this PID) is gone.
(
  while kill -0 $$ 2>/dev/null; do sleep 0.2; done
  kill "${pids[@]}" 2>/dev/null || true
) &
exec "$server" "${args[@]}" --reuse-port
