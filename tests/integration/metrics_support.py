"""Reading echo-server's metrics endpoint from tests: where it listens, plain
HTTP requests, and the exposition text parsed into numbers."""

import http.client
import re
import socket

from echo_harness import SLOW

METRICS_LISTENING = re.compile(r"listening metrics http://(?:\[(?P<v6>[^\]]+)\]|(?P<v4>[0-9.]+)):(?P<port>\d+)/metrics")
SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metrics_address(srv):
    """(host, port) of the server's metrics endpoint, from its log."""
    m = METRICS_LISTENING.search(srv.wait_log(METRICS_LISTENING.pattern))
    return (m.group("v6") or m.group("v4"), int(m.group("port")))


def request(address, path, method="GET", timeout=10, headers=None):
    """One request on a new connection: (status, headers dict, body bytes)."""
    conn = http.client.HTTPConnection(*address, timeout=timeout * SLOW)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def parse(text):
    """{(name, frozenset of (label, value))): float} for every sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group("labels") or ""))
        samples[(m.group("name"), labels)] = float(m.group("value"))
    return samples


def scrape(address):
    status, headers, body = request(address, "/metrics")
    assert status == 200, (status, body)
    return parse(body.decode())


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def raw_exchange(address, data, timeout=5):
    """Sends raw bytes, returns everything read until the server closes (or
    the timeout passes: then what was read so far)."""
    with socket.create_connection(address, timeout=timeout * SLOW) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return out
