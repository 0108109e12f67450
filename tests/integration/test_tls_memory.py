"""What an idle TLS connection costs the server, against a plain one
measured in the same run: a connection that has sent nothing yet (not even
its ClientHello) must cost no more than a plain idle session, and an idle
session past its handshake at most 16 KiB more (docs/security.md). Each kind
gets a server of its own, so memory one kind freed cannot hide another's."""

import os
import resource
import shutil
import socket
import ssl
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import SLOW, EchoTestCase, deadline, rss_kib, tcp_echo  # noqa: E402
from metrics_support import metrics_address, scrape, value  # noqa: E402
from test_tls import PKI, TLS_LISTENING, make_pki  # noqa: E402

CONNECTIONS = 1500
# A plain idle session costs a coroutine frame and the kernel's socket (not
# in our RSS); what a TLS connection may cost beyond it, per connection.
PRE_HANDSHAKE_EXTRA_KIB = 2
ESTABLISHED_EXTRA_KIB = 16


def setUpModule():
    workdir = tempfile.mkdtemp(prefix="echo-tls-memory-")
    unittest.addModuleCleanup(shutil.rmtree, workdir, True)
    make_pki(workdir)
    # Room for every client socket here and every session in the server
    # (which inherits the limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 20000) if hard != resource.RLIM_INFINITY else 20000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        unittest.addModuleCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))


def open_descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@unittest.skipIf(os.environ.get("ECHO_SANITIZER"),
                 "a sanitizer's allocator (redzones, quarantine) says nothing about the server's")
class IdleConnectionMemory(EchoTestCase):
    def start(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1", "--tcp", "--tls-port", "0",
                          "--tls-cert", PKI["server.pem"], "--tls-key", PKI["server.key"], "--log-level", "info",
                          "--metrics", "127.0.0.1:0", "--max-connections", "0", "--idle-timeout", "120")
        srv.tls_port = int(TLS_LISTENING.search(srv.wait_log(TLS_LISTENING.pattern)).group(1))
        srv.metrics = metrics_address(srv)
        # Warm up what every later session reuses: a plain and a TLS echo.
        self.assertEqual(tcp_echo(srv.port, b"warm"), b"warm")
        with self.tls_client().wrap_socket(socket.create_connection(("127.0.0.1", srv.tls_port),
                                                                    timeout=10 * SLOW)) as s:
            s.sendall(b"warm")
            self.assertEqual(s.recv(16), b"warm")
        self.wait_sessions(srv, 0)
        return srv

    @staticmethod
    def tls_client():
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def wait_sessions(self, srv, count, handshakes=None):
        """Until the server holds `count` sessions (and has finished
        `handshakes` in all), read from its metrics."""
        end = deadline(60)
        while True:
            text = scrape(srv.metrics)
            done = value(text, "echo_tcp_connections_active") == count and (
                handshakes is None or value(text, "echo_tls_handshakes_total") >= handshakes)
            if done:
                return
            self.assertLess(time.monotonic(), end, f"server never reached {count} sessions")
            time.sleep(0.05)

    def cost_per_connection(self, srv, connect, extra_handshakes=None):
        """KiB of the server's RSS per connection for CONNECTIONS idle ones."""
        before = rss_kib(srv.proc.pid)
        socks = []
        try:
            for _ in range(CONNECTIONS):
                socks.append(connect())
            self.wait_sessions(srv, CONNECTIONS, extra_handshakes)
            self.assertGreaterEqual(open_descriptors(srv.proc.pid), CONNECTIONS)
            grown = rss_kib(srv.proc.pid) - before
        finally:
            for s in socks:
                s.close()
        self.wait_sessions(srv, 0)
        return grown / CONNECTIONS

    def plain(self, srv):
        return socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW)

    def test_tls_connections_cost_about_what_plain_ones_do(self):
        srv = self.start()
        plain = self.cost_per_connection(srv, lambda: self.plain(srv))
        srv.close()

        # Connected, nothing sent: the handshake's deadline (10 s) is far off.
        srv = self.start()
        silent = self.cost_per_connection(
            srv, lambda: socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10 * SLOW))
        srv.close()

        srv = self.start()
        context = self.tls_client()
        handshakes = value(scrape(srv.metrics), "echo_tls_handshakes_total")
        established = self.cost_per_connection(
            srv, lambda: context.wrap_socket(socket.create_connection(("127.0.0.1", srv.tls_port),
                                                                      timeout=10 * SLOW)),
            handshakes + CONNECTIONS)
        srv.close()

        figures = f"KiB per connection: plain {plain:.1f}, TLS silent {silent:.1f}, TLS established {established:.1f}"
        print(figures, file=sys.stderr)
        self.assertLessEqual(silent, plain + PRE_HANDSHAKE_EXTRA_KIB, figures)
        self.assertLessEqual(established, plain + ESTABLISHED_EXTRA_KIB, figures)


if __name__ == "__main__":
    unittest.main()
