#!/usr/bin/env python3
"""What an idle connection costs echo-server in RSS: plain TCP, TLS before
its ClientHello, TLS after its handshake; and what stays resident after they
all close.

    bench/tls_memory.py build/ci/apps/echo-server                # 5,000 of each
    bench/tls_memory.py /tmp/old/echo-server --connections 2000 --kinds silent

Each kind gets a server of its own (a P-256 certificate made here with
`openssl`), warmed up with one plain and one TLS echo. The connections come
from 127.0.0.2 to 127.0.0.5 (room for 5,000 per address and more); the
descriptor limit is raised to its hard limit (the server inherits it). Silent
connections must all be open within the handshake deadline (10 s).
"""

import argparse
import os
import re
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from echo_harness import rss_kib  # noqa: E402


def descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def client_context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def wait_until(condition, seconds):
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise RuntimeError("timed out")
        time.sleep(0.05)


def measure(server, files, kind, count):
    proc = subprocess.Popen([server, "--tcp", "--bind", "127.0.0.1", "--port", "0", "--tls-port", "0",
                             "--tls-cert", files[0], "--tls-key", files[1], "--log-level", "info",
                             "--max-connections", "0"], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ports = {}
        while len(ports) < 2:
            line = proc.stderr.readline()
            if not line:
                raise RuntimeError("the server exited")
            m = re.search(r"listening (tcp|tls) [0-9.]+:(\d+)", line)
            if m:
                ports[m.group(1)] = int(m.group(2))
        context = client_context()
        with socket.create_connection(("127.0.0.1", ports["tcp"])) as s:
            s.sendall(b"x")
            s.recv(1)
        with context.wrap_socket(socket.create_connection(("127.0.0.1", ports["tls"]))) as s:
            s.sendall(b"x")
            s.recv(1)
        time.sleep(0.3)  # the warm-up sessions' ends
        base_descriptors, before = descriptors(proc.pid), rss_kib(proc.pid)
        socks = []
        for i in range(count):
            source = (f"127.0.0.{2 + i % 4}", 0)
            port = ports["tcp"] if kind == "plain" else ports["tls"]
            s = socket.create_connection(("127.0.0.1", port), source_address=source)
            socks.append(context.wrap_socket(s) if kind == "established" else s)
        wait_until(lambda: descriptors(proc.pid) >= base_descriptors + count, 30)
        time.sleep(0.5)  # the last sessions' first steps
        held = rss_kib(proc.pid)
        for s in socks:
            s.close()
        wait_until(lambda: descriptors(proc.pid) <= base_descriptors, 30)
        time.sleep(3)  # the server trims its heap once no session has ended for 1 s
        after = rss_kib(proc.pid)
        print(f"{kind:12} {count} connections: RSS {before / 1024:.1f} -> {held / 1024:.1f} MiB, "
              f"{(held - before) / count:.2f} KiB each; after close {after / 1024:.1f} MiB", flush=True)
    finally:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server")
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--kinds", nargs="+", default=["plain", "silent", "established"],
                        choices=["plain", "silent", "established"])
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as workdir:
        files = (os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-keyout", files[1], "-out", files[0], "-subj", "/CN=localhost"],
                       check=True, capture_output=True)
        for kind in args.kinds:
            measure(args.server, files, kind, args.connections)


if __name__ == "__main__":
    sys.exit(main())
