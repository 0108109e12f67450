"""Every limit and protection of echo-server, with its default and with
another value, against the real binary."""

import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import (SLOW, EchoTestCase, bound_udp_socket, counters, deadline, needs_root,  # noqa: E402
                          tcp_echo, udp_burst, udp_echo)


def open_client(port, host="127.0.0.1"):
    s = socket.create_connection((host, port), timeout=10 * SLOW)
    return s


def is_served(s):
    """True when `s` gets its echo; False when the server closed it."""
    try:
        s.sendall(b"ping")
        return s.recv(16) == b"ping"
    except (ConnectionResetError, BrokenPipeError):
        return False


TLS_LISTENING = re.compile(r"listening tls (?:\[[^\]]+\]|[0-9.]+):(\d+)")


def self_signed_certificate(test):
    """(certificate, key) paths: one self-signed certificate for localhost and
    127.0.0.1, made with `openssl` in a directory removed when the test ends."""
    workdir = tempfile.mkdtemp(prefix="echo-limits-tls-")
    test.addCleanup(shutil.rmtree, workdir, True)
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-keyout", key, "-out", cert, "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def tls_session(port, cafile, source="127.0.0.1"):
    """A TLS session from `source` that got one echo back, or None when the
    server closed the connection before the handshake completed (a
    connection refused by a limit). A handshake that neither completes nor
    is refused within the socket timeout raises socket.timeout."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW, source_address=(source, 0))
    context = ssl.create_default_context(cafile=cafile)
    try:
        s = context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError):
        raw.close()
        return None
    except BaseException:
        raw.close()
        raise
    try:
        s.sendall(b"tls ping")
        got = b""
        while len(got) < 8 and (chunk := s.recv(8 - len(got))):
            got += chunk
        if got != b"tls ping":
            raise AssertionError(f"TLS echo came back as {got!r}")
    except BaseException:
        s.close()
        raise
    return s


class MaxConnections(EchoTestCase):
    def test_default_is_10000(self):
        srv = self.server("--port", "0")
        self.assertTrue(any("max-connections=10000" in line for line in srv.lines))

    def test_fifty_of_sixty_served_then_room_frees(self):
        srv = self.server("--port", "0", "--max-connections", "50")
        clients = [open_client(srv.port) for _ in range(60)]
        try:
            served = [is_served(c) for c in clients]
            self.assertEqual(served.count(True), 50)
            self.assertEqual(served[:50], [True] * 50)  # the first 50 got in
            # Room frees as sessions end.
            for c in clients[:5]:
                c.close()
            end = deadline(10)
            while time.monotonic() < end:
                extra = open_client(srv.port)
                ok = is_served(extra)
                extra.close()
                if ok:
                    break
            self.assertTrue(ok, "no room after 5 sessions closed")
        finally:
            for c in clients:
                c.close()
        self.assertEqual(srv.stop(), 0)
        self.assertGreaterEqual(counters(srv)["sessions_rejected"], 10)
        warnings = [line for line in srv.lines if "rejected" in line and "warn" in line]
        self.assertGreaterEqual(len(warnings), 1)
        self.assertLessEqual(len(warnings), 3)  # rate-limited, not one per connection

    def test_rejected_peer_that_already_reset_is_not_logged_as_0_0_0_0(self):
        srv = self.server("--tcp", "--port", "0", "--bind", "127.0.0.1", "--max-connections", "1")
        held = open_client(srv.port)
        self.assertTrue(is_served(held))
        # With the server stopped, the kernel completes the handshake and then
        # takes the client's reset, so the server accepts a connection whose
        # peer is already gone.
        srv.signal(signal.SIGSTOP)
        try:
            late = socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW)
            late.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            late.close()
        finally:
            srv.signal(signal.SIGCONT)
        line = srv.wait_log(r"rejected: ", 10)
        self.assertNotIn("0.0.0.0:0", line)
        self.assertIn("already gone", line)
        held.close()

    def test_zero_means_unlimited(self):
        srv = self.server("--port", "0", "--max-connections", "0")
        clients = [open_client(srv.port) for _ in range(100)]
        try:
            self.assertTrue(all(is_served(c) for c in clients))
        finally:
            for c in clients:
                c.close()


class MaxConnectionsPerSource(EchoTestCase):
    def test_default_is_unlimited(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1")
        self.assertTrue(any("max-connections-per-source=0" in line for line in srv.lines))
        clients = [open_client(srv.port) for _ in range(50)]
        try:
            self.assertTrue(all(is_served(c) for c in clients))
        finally:
            for c in clients:
                c.close()

    def test_three_per_address_others_unaffected(self):
        srv = self.server("--tcp", "--port", "0", "--bind", "0.0.0.0", "--max-connections-per-source", "3")
        greedy = [open_client(srv.port, "127.0.0.1") for _ in range(5)]
        try:
            served = [is_served(c) for c in greedy]
            self.assertEqual(served, [True, True, True, False, False])
            # Another address still gets in.
            other = socket.create_connection((("127.0.0.2", srv.port)), timeout=10 * SLOW,
                                             source_address=("127.0.0.2", 0))
            self.assertTrue(is_served(other))
            other.close()
            # A slot frees when one of the three closes.
            greedy[0].close()
            end = deadline(10)
            ok = False
            while not ok and time.monotonic() < end:
                extra = open_client(srv.port, "127.0.0.1")
                ok = is_served(extra)
                extra.close()
            self.assertTrue(ok, "no room after one of the three closed")
        finally:
            for c in greedy:
                c.close()
        self.assertEqual(srv.stop(), 0)
        c = counters(srv)
        self.assertGreaterEqual(c["sessions_rejected_per_source"], 2)
        self.assertEqual(c["sessions_rejected"], 0)
        self.assertTrue(any("max-connections-per-source" in line and "rejected" in line for line in srv.lines))

    def test_plain_and_tls_sessions_share_one_limit_per_address(self):
        # The limit is per client address, whatever the listener: with two
        # plain sessions open from 127.0.0.1 and a limit of 2, a TLS
        # connection from it is over the limit too, and the other way round.
        from metrics_support import metrics_address, scrape, value
        cert, key = self_signed_certificate(self)
        srv = self.server("--tcp", "--port", "0", "--bind", "127.0.0.1", "--tls-port", "0", "--tls-cert", cert,
                          "--tls-key", key, "--max-connections-per-source", "2", "--metrics", "127.0.0.1:0")
        tls_port = int(TLS_LISTENING.search(srv.wait_log(TLS_LISTENING.pattern)).group(1))
        address = metrics_address(srv)
        open_sockets = []
        self.addCleanup(lambda: [s.close() for s in open_sockets])

        def rejected_per_source():
            return value(scrape(address), "echo_tcp_connections_rejected_total", reason="max_connections_per_source")

        def wait_rejected(expected):
            end = deadline(10)
            while (got := rejected_per_source()) < expected and time.monotonic() < end:
                time.sleep(0.02)
            self.assertEqual(got, expected, "echo_tcp_connections_rejected_total{reason=max_connections_per_source}")

        plain = [open_client(srv.port) for _ in range(2)]
        open_sockets += plain
        self.assertEqual([is_served(c) for c in plain], [True, True])
        # Two plain sessions from 127.0.0.1: a TLS connection from it is the third.
        refused = tls_session(tls_port, cert)
        if refused is not None:
            open_sockets.append(refused)
            self.fail("a TLS session from 127.0.0.1 (handshake done, echo back) was served beside 2 plain ones, "
                      "with --max-connections-per-source 2")
        wait_rejected(1)
        # Another address is not affected.
        other = tls_session(tls_port, cert, source="127.0.0.2")
        self.assertIsNotNone(other, "a TLS connection from 127.0.0.2 was refused")
        other.close()
        # A plain session that ends frees a slot for a TLS one (freed a moment
        # after the close: retried until a deadline, each refusal counted).
        plain[0].close()
        refused_meanwhile = 0
        end = deadline(10)
        while (tls := tls_session(tls_port, cert)) is None and time.monotonic() < end:
            refused_meanwhile += 1
            time.sleep(0.02)
        self.assertIsNotNone(tls, "no TLS session after one of the two plain sessions closed")
        open_sockets.append(tls)
        # One plain and one TLS session open: a plain connection is over the limit.
        extra = open_client(srv.port)
        open_sockets.append(extra)
        self.assertFalse(is_served(extra), "a third session from 127.0.0.1 (plain, beside 1 plain and 1 TLS) "
                                           "was served, with --max-connections-per-source 2")
        wait_rejected(1 + refused_meanwhile + 1)
        samples = scrape(address)
        self.assertEqual(value(samples, "echo_tcp_connections_rejected_total", reason="max_connections"), 0)
        self.assertTrue(is_served(plain[1]))
        tls.sendall(b"still")
        self.assertEqual(tls.recv(5), b"still")
        for s in open_sockets:
            s.close()
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["sessions_rejected_per_source"], 1 + refused_meanwhile + 1)


class IdleTimeout(EchoTestCase):
    def test_idle_session_closed_busy_one_kept(self):
        srv = self.server("--port", "0", "--idle-timeout", "2", "--log-level", "debug")
        idle = open_client(srv.port)
        busy = open_client(srv.port)
        started = time.monotonic()
        idle.settimeout(0)
        idle_closed_at = None
        while time.monotonic() - started < 4.5:
            self.assertTrue(is_served(busy), "busy session was closed")
            if idle_closed_at is None:
                try:
                    if idle.recv(16) == b"":
                        idle_closed_at = time.monotonic() - started
                except BlockingIOError:
                    pass
            time.sleep(0.2)
        self.assertIsNotNone(idle_closed_at, "idle session was not closed")
        self.assertGreaterEqual(idle_closed_at, 1.9)
        self.assertLess(idle_closed_at, 4.0)
        idle.close()
        busy.close()
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["sessions_idle_closed"], 1)

    def test_slow_reader_is_not_idle(self):
        # The client reads its echo at about 1 MB/s: the server's send queue
        # grows to megabytes, and the kernel reports room in it only once half
        # has drained, so the session's write waits about two seconds at a
        # time, longer than the idle timeout. Yet every byte moves, and the
        # client must get all of it.
        # Kernel autotuning: the send queue grows to megabytes, the hardest case.
        srv = self.server("--port", "0", "--bind", "127.0.0.1", "--idle-timeout", "0.5", "--tcp-buffer", "0")
        data = os.urandom(6_000_000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(10 * SLOW)
            s.connect(("127.0.0.1", srv.port))
            writer = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
            writer.start()
            received = bytearray()
            end = deadline(60)
            while time.monotonic() < end:
                chunk = s.recv(100_000)
                if not chunk:
                    break
                received += chunk
                time.sleep(0.1)  # the slow reader's pace, not a wait for anything
            writer.join(10 * SLOW)
        self.assertEqual(len(received), len(data))
        self.assertEqual(bytes(received), data)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["sessions_idle_closed"], 0)

    def test_default_keeps_a_quiet_session(self):
        srv = self.server("--port", "0")
        self.assertTrue(any("idle-timeout=300s" in line for line in srv.lines))
        c = open_client(srv.port)
        self.assert_stays_open(c, 2.5)  # quiet on purpose: longer than the short timeout above
        self.assertTrue(is_served(c))
        c.close()

    def test_zero_never_closes(self):
        srv = self.server("--port", "0", "--idle-timeout", "0")
        c = open_client(srv.port)
        self.assert_stays_open(c, 1.5)
        self.assertTrue(is_served(c))
        c.close()


class BlockedSourcePorts(EchoTestCase):
    @needs_root("sends from ports 7 and 19")
    def test_ports_7_and_19_dropped_by_default(self):
        srv = self.server("--udp", "--port", "0", "--bind", "127.0.0.1")
        for source in (7, 19):
            with self.assertRaises(socket.timeout):
                udp_echo(srv.port, b"loop?", source_port=source, timeout=0.5)
        self.assertEqual(udp_echo(srv.port, b"ephemeral"), b"ephemeral")
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["dropped_blocked_port"], 2)

    @needs_root("sends from ports 7 and 19")
    def test_empty_list_allows_them(self):
        srv = self.server("--udp", "--port", "0", "--bind", "127.0.0.1", "--udp-blocked-ports", "")
        for source in (7, 19):
            self.assertEqual(udp_echo(srv.port, b"allowed", source_port=source), b"allowed")

    def test_other_list(self):
        blocked = bound_udp_socket(self)
        allowed = bound_udp_socket(self)
        blocked_port = blocked.getsockname()[1]
        srv = self.server("--udp", "--port", "0", "--bind", "127.0.0.1",
                          "--udp-blocked-ports", f"{blocked_port}-{blocked_port}")
        self.assertEqual(udp_echo(srv.port, b"not listed", sock=allowed), b"not listed")
        with self.assertRaises(socket.timeout):
            udp_echo(srv.port, b"blocked", sock=blocked, timeout=0.5)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["dropped_blocked_port"], 1)

    @needs_root("sends from ports 7 and 19")
    def test_other_list_replaces_the_default(self):
        srv = self.server("--udp", "--port", "0", "--bind", "127.0.0.1", "--udp-blocked-ports", "19")
        self.assertEqual(udp_echo(srv.port, b"7 is fine now", source_port=7), b"7 is fine now")
        with self.assertRaises(socket.timeout):
            udp_echo(srv.port, b"blocked", source_port=19, timeout=0.5)


class MaxDatagram(EchoTestCase):
    def test_1001_bytes_dropped_with_max_1000(self):
        srv = self.server("--udp", "--port", "0", "--max-datagram", "1000")
        self.assertEqual(udp_echo(srv.port, b"a" * 1000), b"a" * 1000)
        with self.assertRaises(socket.timeout):
            udp_echo(srv.port, b"b" * 1001, timeout=0.5)
        self.assertEqual(srv.stop(), 0)
        c = counters(srv)
        self.assertEqual(c["dropped_too_large"], 1)
        self.assertEqual(c["datagrams_out"], 1)

    def test_default_65507_echoed_larger_ipv6_dropped(self):
        srv = self.server("--udp", "--port", "0")
        self.assertEqual(len(udp_echo(srv.port, b"c" * 65507, host="::1")), 65507)
        with self.assertRaises(socket.timeout):
            udp_echo(srv.port, b"d" * 65508, host="::1", timeout=0.5)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["dropped_too_large"], 1)


class RateLimit(EchoTestCase):
    def test_burst_of_1000_against_100(self):
        srv = self.server("--udp", "--port", "0", "--bind", "127.0.0.1", "--udp-rate-limit", "100")
        started = time.monotonic()
        replies = udp_burst(srv.port, 1000, wait=0.5)
        sending = time.monotonic() - started
        # A new source gets a few datagrams through (8), then earns 100 a second.
        self.assertGreaterEqual(replies, 8)
        self.assertLessEqual(replies, 8 + 100 * sending + 5)
        self.assertEqual(srv.stop(), 0)
        c = counters(srv)
        self.assertEqual(c["datagrams_out"], replies)
        self.assertEqual(c["dropped_rate_limited"], c["datagrams_in"] - replies)
        self.assertGreater(c["dropped_rate_limited"], 500)

    def test_default_1000_and_a_quiet_source_earns_its_burst(self):
        srv = self.server("--udp", "--port", "0", "--bind", "127.0.0.1")
        self.assertTrue(any("udp-rate-limit=1000" in line for line in srv.lines))
        started = time.monotonic()
        first = udp_burst(srv.port, 3000, wait=0.3)
        sending = time.monotonic() - started
        # New: no burst, a few datagrams (8) and then the rate.
        self.assertLessEqual(first, 8 + 1000 * sending + 10)
        # Quiet for a second and more (the refill being tested), the source
        # has earned a full burst of 1000, and no more than that plus the rate.
        time.sleep(1.2)
        started = time.monotonic()
        second = udp_burst(srv.port, 3000, wait=0.3)
        sending = time.monotonic() - started
        self.assertGreaterEqual(second, 1000)
        self.assertLessEqual(second, 1000 + 1000 * sending + 10)
        self.assertEqual(srv.stop(), 0)
        self.assertGreater(counters(srv)["dropped_rate_limited"], 0)

    def test_zero_is_off(self):
        srv = self.server("--udp", "--port", "0", "--bind", "127.0.0.1", "--udp-rate-limit", "0")
        udp_burst(srv.port, 3000)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["dropped_rate_limited"], 0)


class ReusePortAndStats(EchoTestCase):
    def test_reuse_port_lets_two_servers_share(self):
        first = self.server("--port", "0", "--reuse-port", "--bind", "127.0.0.1")
        second = self.server("--port", str(first.port), "--reuse-port", "--bind", "127.0.0.1")
        self.assertEqual(second.port, first.port)
        self.assertEqual(tcp_echo(first.port, b"shared"), b"shared")

    def test_reuse_port_three_processes_share_the_load(self):
        # The recipe of docs/load-balancers.md: N processes, one port, the
        # kernel spreading connections (and datagrams) across them.
        from metrics_support import metrics_address, scrape, value
        first = self.server("--port", "0", "--reuse-port", "--bind", "127.0.0.1", "--udp-rate-limit", "0",
                            "--metrics", "127.0.0.1:0")
        servers = [first] + [self.server("--port", str(first.port), "--reuse-port", "--bind", "127.0.0.1",
                                         "--udp-rate-limit", "0", "--metrics", "127.0.0.1:0") for _ in range(2)]
        for i in range(90):
            self.assertEqual(tcp_echo(first.port, b"conn %d" % i), b"conn %d" % i)
            self.assertEqual(udp_echo(first.port, b"dgram %d" % i), b"dgram %d" % i)  # a new socket each time
        end = deadline(10)
        while True:
            samples = [scrape(metrics_address(s)) for s in servers]
            tcp = [value(m, "echo_tcp_connections_total") for m in samples]
            udp = [value(m, "echo_udp_sent_datagrams_total") for m in samples]
            if sum(tcp) == 90 or time.monotonic() > end:
                break
            time.sleep(0.05)
        self.assertEqual(sum(tcp), 90)
        self.assertEqual(sum(udp), 90)
        self.assertTrue(all(n > 0 for n in tcp), f"connections per process: {tcp}")
        self.assertTrue(all(n > 0 for n in udp), f"datagrams per process: {udp}")

    def test_without_reuse_port_the_second_fails(self):
        first = self.server("--port", "0", "--bind", "127.0.0.1")
        second = self.server("--port", str(first.port), "--bind", "127.0.0.1", wait_listening=False)
        self.assertEqual(second.wait_exit(), 1)
        self.assertTrue(any(f"127.0.0.1:{first.port}" in line for line in second.lines), second.lines)

    def test_stats_interval_logs_counters(self):
        srv = self.server("--port", "0", "--stats-interval", "1")
        tcp_echo(srv.port, b"12345")
        line = srv.wait_log(r"stats: .*tcp_bytes_in=5", 10)
        self.assertIn("sessions_opened=1", line)

    def test_stats_off_by_default(self):
        srv = self.server("--port", "0")
        self.assertTrue(any("stats-interval=0s" in line for line in srv.lines))
        srv.assert_no_log(r"stats:", 1.5)


if __name__ == "__main__":
    unittest.main()
