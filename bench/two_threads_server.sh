#!/usr/bin/env bash
# echo-server with --threads 2, for a side-by-side table against one thread:
#   bench/run.py --compare bench/two_threads_server.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "${ECHO_SERVER:-$root/build/release/apps/echo-server}" "$@" --threads 2
