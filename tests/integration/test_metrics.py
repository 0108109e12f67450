"""echo-server's --metrics endpoint with the real binary: exact counters
after known traffic, every drop and rejection reason, the HTTP answers the
SPEC lists, readiness during a graceful stop, promtool's verdict, and
hostile HTTP clients while echo traffic goes on."""

import http.client
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import SLOW, EchoTestCase, counters, deadline, tcp_echo, udp_echo  # noqa: E402
from metrics_support import metrics_address, parse, raw_exchange, request, scrape, value  # noqa: E402
from test_hostile_peers import limit_descriptors  # noqa: E402


def closed_within(sockets, seconds):
    """How many of `sockets` the server closes within `seconds` (all are
    watched at once, so the wait is `seconds` in all)."""
    pending, closed = set(sockets), 0
    end = time.monotonic() + seconds
    while pending and time.monotonic() < end:
        readable, _, _ = select.select(list(pending), [], [], max(0, end - time.monotonic()))
        for s in readable:
            pending.discard(s)
            try:
                closed += s.recv(1) == b""
            except ConnectionResetError:
                closed += 1
    return closed


class MetricsTestCase(EchoTestCase):
    def metrics_server(self, *args, **kwargs):
        srv = self.server("--port", "0", "--bind", "127.0.0.1", "--metrics", "127.0.0.1:0", *args, **kwargs)
        return srv, metrics_address(srv)

    def wait_metric(self, address, name, expected, seconds=10, **labels):
        """Scrapes until the sample has the value (sessions end a moment
        after the client's close); fails with the last value seen. Ten
        scrapes a second at most, so each is rendered afresh and a scrape
        right after this one sees exact counters too (metrics.md, Bounds)."""
        end = deadline(seconds)
        while True:
            got = value(scrape(address), name, **labels)
            if got == expected or time.monotonic() > end:
                self.assertEqual(got, expected, name)
                return
            time.sleep(0.1)


class ExactCounters(MetricsTestCase):
    def test_tcp_and_udp_byte_and_message_counts(self):
        srv, address = self.metrics_server("--udp-rate-limit", "0")
        before = scrape(address)
        self.assertEqual(value(before, "echo_tcp_received_bytes_total"), 0)
        sizes = [1, 1000, 70_000, 1 << 20]
        for size in sizes:
            data = os.urandom(size)
            self.assertEqual(tcp_echo(srv.port, data), data)
        self.wait_metric(address, "echo_tcp_connections_active", 0)
        after = scrape(address)
        self.assertEqual(value(after, "echo_tcp_received_bytes_total"), sum(sizes))
        self.assertEqual(value(after, "echo_tcp_sent_bytes_total"), sum(sizes))
        self.assertEqual(value(after, "echo_tcp_connections_total"), len(sizes))
        self.assertEqual(value(after, "echo_tcp_session_duration_seconds_count"), len(sizes))
        self.assertEqual(value(after, "echo_tcp_session_duration_seconds_bucket", le="+Inf"), len(sizes))
        self.assertGreater(value(after, "echo_tcp_session_duration_seconds_sum"), 0)

        datagrams = [b"", b"x", os.urandom(1000), os.urandom(60_000)]
        for d in datagrams:
            self.assertEqual(udp_echo(srv.port, d), d)
        after = scrape(address)
        self.assertEqual(value(after, "echo_udp_received_datagrams_total"), len(datagrams))
        self.assertEqual(value(after, "echo_udp_sent_datagrams_total"), len(datagrams))
        self.assertEqual(value(after, "echo_udp_received_bytes_total"), sum(map(len, datagrams)))
        self.assertEqual(value(after, "echo_udp_sent_bytes_total"), sum(map(len, datagrams)))
        self.assertEqual(value(after, "echo_build_info", version=self.version()), 1)
        self.assertEqual(srv.stop(), 0)

    def version(self):
        out = subprocess.run([os.environ.get("ECHO_SERVER", "echo-server"), "--version"], capture_output=True)
        return out.stdout.split()[1].decode()

    def test_process_families_read_from_proc(self):
        srv, address = self.metrics_server()
        pid = srv.proc.pid
        # One kept-alive connection: the server's descriptor for it is open
        # both when it counts and when the test does.
        conn = http.client.HTTPConnection(*address, timeout=10 * SLOW)
        self.addCleanup(conn.close)
        conn.request("GET", "/metrics")
        samples = parse(conn.getresponse().read().decode())
        self.assertEqual(value(samples, "process_open_fds"), len(os.listdir(f"/proc/{pid}/fd")), "open fds")
        with open(f"/proc/{pid}/limits") as f:
            soft = next(line.split()[3] for line in f if line.startswith("Max open files"))
        self.assertEqual(value(samples, "process_max_fds"), int(soft))
        rss = value(samples, "process_resident_memory_bytes")
        self.assertTrue(1 << 20 < rss < 1 << 30, rss)
        start = value(samples, "process_start_time_seconds")
        self.assertLess(abs(start - time.time()), 60)
        self.assertGreaterEqual(value(samples, "process_cpu_seconds_total"), 0)


class DropAndRejectReasons(MetricsTestCase):
    def test_tcp_rejections_and_idle_timeouts(self):
        srv, address = self.metrics_server("--max-connections", "3", "--max-connections-per-source", "1",
                                           "--idle-timeout", "0.5")
        served = [socket.create_connection(("127.0.0.1", srv.port), source_address=(source, 0))
                  for source in ("127.0.0.1", "127.0.0.2")]
        # A second one from 127.0.0.2: over its per-source limit.
        refused = [socket.create_connection(("127.0.0.1", srv.port), source_address=("127.0.0.2", 0))]
        served.append(socket.create_connection(("127.0.0.1", srv.port), source_address=("127.0.0.3", 0)))
        # A fourth from a fresh source: over --max-connections.
        refused.append(socket.create_connection(("127.0.0.1", srv.port), source_address=("127.0.0.4", 0)))
        for c in served:
            c.sendall(b"in")
            self.assertEqual(c.recv(2), b"in")
        for c in refused:
            c.settimeout(5 * SLOW)
            self.assertEqual(c.recv(1), b"")  # closed at once
            c.close()
        samples = scrape(address)
        self.assertEqual(value(samples, "echo_tcp_connections_rejected_total", reason="max_connections_per_source"), 1)
        self.assertEqual(value(samples, "echo_tcp_connections_rejected_total", reason="max_connections"), 1)
        self.assertEqual(value(samples, "echo_tcp_connections_rejected_total", reason="proxy_protocol"), 0)
        self.assertEqual(value(samples, "echo_tcp_connections_active"), 3)
        self.assertEqual(value(samples, "echo_tcp_connections_total"), 3)
        # All three go idle and are closed.
        self.wait_metric(address, "echo_tcp_idle_timeouts_total", 3)
        self.wait_metric(address, "echo_tcp_connections_active", 0)
        for c in served:
            c.close()

    def test_udp_drop_reasons(self):
        blocked = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(blocked.close)
        blocked.bind(("127.0.0.1", 0))
        srv, address = self.metrics_server("--max-datagram", "100", "--udp-rate-limit", "0",
                                           "--udp-blocked-ports", str(blocked.getsockname()[1]))
        blocked.sendto(b"from a blocked port", ("127.0.0.1", srv.port))
        with self.assertRaises(socket.timeout):
            udp_echo(srv.port, b"y" * 101, timeout=0.3)
        # An echo loop: a socket that sends back at once whatever the server
        # sends it, until the damper stops answering (0.5 s of silence).
        reflected = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5 * SLOW)
            s.sendto(b"same", ("127.0.0.1", srv.port))
            reflected += 1
            end = deadline(10)
            while time.monotonic() < end:
                try:
                    s.sendto(s.recv(100), ("127.0.0.1", srv.port))
                    reflected += 1
                except socket.timeout:
                    break
        self.assertEqual(udp_echo(srv.port, b"still served"), b"still served")
        samples = scrape(address)
        drops = {reason: value(samples, "echo_udp_dropped_datagrams_total", reason=reason)
                 for reason in ("blocked_port", "rate_limited", "too_large", "send_failed", "loop")}
        self.assertEqual(drops["blocked_port"], 1)
        self.assertEqual(drops["too_large"], 1)
        self.assertEqual(drops["rate_limited"], 0)
        self.assertGreater(drops["loop"], 0)
        # Every datagram received was either echoed or dropped for a reason.
        self.assertEqual(value(samples, "echo_udp_received_datagrams_total"), 1 + 1 + reflected + 1)
        self.assertEqual(value(samples, "echo_udp_received_datagrams_total"),
                         value(samples, "echo_udp_sent_datagrams_total") + sum(drops.values()))

    def test_rate_limited(self):
        srv, address = self.metrics_server("--udp-rate-limit", "5")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(40):
                s.sendto(b"%d" % i, ("127.0.0.1", srv.port))
        self.wait_metric(address, "echo_udp_received_datagrams_total", 40)
        samples = scrape(address)
        limited = value(samples, "echo_udp_dropped_datagrams_total", reason="rate_limited")
        self.assertGreater(limited, 20)
        self.assertEqual(value(samples, "echo_udp_sent_datagrams_total") + limited, 40)

    def test_accept_errors(self):
        srv, address = self.metrics_server(preexec_fn=limit_descriptors(40))
        clients = []
        try:
            for _ in range(60):
                clients.append(socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW))
            srv.wait_log("accept failed", 10)
        finally:
            for c in clients:
                c.close()
        self.wait_metric(address, "echo_tcp_connections_active", 0, seconds=20)
        scraped = value(scrape(address), "echo_accept_errors_total")
        self.assertGreater(scraped, 0)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["accept_errors"], scraped)

    def test_metrics_accept_errors_are_not_echo_accept_errors(self):
        # Out of descriptors with metrics connections only: the accepts that
        # fail are the metrics listener's, counted in a family of their own;
        # echo_accept_errors_total stays for the echo listeners.
        limit = 40
        srv, address = self.metrics_server(preexec_fn=limit_descriptors(limit))
        pid = srv.proc.pid
        first = scrape(address)  # every family exists from the first scrape
        self.assertEqual(value(first, "process_max_fds"), limit)
        # The descriptors the server uses now (the one of that scrape's
        # connection may still be open: counted, so at worst one too many).
        in_use = sum(1 for fd in os.listdir(f"/proc/{pid}/fd") if int(fd) < limit)
        free = limit - in_use
        # All of them taken by idle metrics connections, well under the
        # endpoint's own limit of 64, then a few more that cannot be accepted.
        self.assertTrue(0 < free <= 64 - 16, f"{in_use} descriptors in use at start, limit {limit}")
        clients = []
        try:
            for _ in range(free + 8):
                clients.append(socket.create_connection(address, timeout=10 * SLOW))
            srv.wait_log(r"accept failed", 10)
        finally:
            for c in clients:
                c.close()
        # The server frees its side as it reads each close; until then a
        # scrape may find it still out of descriptors.
        end = deadline(10)
        while True:
            try:
                status, _, body = request(address, "/metrics")
                if status == 200:
                    break
            except OSError:
                pass
            self.assertLess(time.monotonic(), end, "no scrape answered after the metrics connections closed")
            time.sleep(0.05)
        samples = parse(body.decode())
        metrics_errors = samples.get(("echo_metrics_accept_errors_total", frozenset()))
        self.assertEqual(value(samples, "echo_accept_errors_total"), 0,
                         "failed accepts on the metrics port counted as echo accept errors "
                         f"(echo_metrics_accept_errors_total: {metrics_errors})")
        self.assertIsNotNone(metrics_errors, "no echo_metrics_accept_errors_total family")
        self.assertGreater(metrics_errors, 0)
        self.assertIn(b"\n# TYPE echo_metrics_accept_errors_total counter\n", body)
        self.assertIn(b"\n# HELP echo_metrics_accept_errors_total ", body)
        self.assertEqual(first.get(("echo_metrics_accept_errors_total", frozenset())), 0)
        # It was descriptors, not the endpoint's limit of 64 connections.
        self.assertEqual(value(samples, "echo_metrics_connections_rejected_total"), 0)
        self.assertEqual(value(samples, "echo_tcp_connections_total"), 0)
        # The echo service is untouched, and its accept errors still 0.
        self.assertEqual(tcp_echo(srv.port, b"echo after"), b"echo after")
        self.assertEqual(value(scrape(address), "echo_accept_errors_total"), 0)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["accept_errors"], 0)


class HttpAnswers(MetricsTestCase):
    def test_paths_methods_and_content_type(self):
        srv, address = self.metrics_server()
        status, headers, body = request(address, "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        self.assertIn(b"# TYPE echo_tcp_session_duration_seconds histogram", body)
        self.assertEqual(request(address, "/healthz")[0], 200)
        self.assertEqual(request(address, "/readyz")[0], 200)
        self.assertEqual(request(address, "/metrics?name[]=x")[0], 200)
        self.assertEqual(request(address, "/")[0], 404)
        self.assertEqual(request(address, "/metricsx")[0], 404)
        status, headers, _ = request(address, "/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "GET, HEAD")
        self.assertEqual(request(address, "/healthz", method="DELETE")[0], 405)
        status, headers, body = request(address, "/healthz", method="HEAD")
        self.assertEqual((status, body, headers["content-length"]), (200, b"", "3"))

    def test_malformed_and_oversized_requests(self):
        srv, address = self.metrics_server()
        reply = raw_exchange(address, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 400 "), reply)
        reply = raw_exchange(address, b"GET /" + b"a" * (100 << 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 431 "), reply)
        reply = raw_exchange(address, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 431 "), reply)
        reply = raw_exchange(address, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Fits: " + b"b" * 7000 + b"\r\n"
                             b"Connection: close\r\n\r\n")
        self.assertTrue(reply.startswith(b"HTTP/1.1 200 "), reply[:100])
        reply = raw_exchange(address, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        self.assertTrue(reply.startswith(b"HTTP/1.1 400 "), reply)
        # Keep-alive: two requests, two answers, one connection.
        reply = raw_exchange(address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                             b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(reply.count(b"HTTP/1.1 200 OK"), 2, reply)
        self.assertEqual(tcp_echo(srv.port, b"echo unaffected"), b"echo unaffected")


class Readiness(MetricsTestCase):
    def test_readyz_turns_503_at_once_while_sessions_drain(self):
        srv, address = self.metrics_server("--shutdown-timeout", "20")
        session = socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW)
        session.sendall(b"x")
        self.assertEqual(session.recv(1), b"x")
        self.assertEqual(request(address, "/readyz")[0], 200)
        srv.signal(signal.SIGTERM)
        srv.wait_log("stopping: no new connections")
        self.assertEqual(request(address, "/readyz")[0:3:2], (503, b"stopping\n"))
        self.assertEqual(request(address, "/healthz")[0], 200)
        self.assertEqual(value(scrape(address), "echo_tcp_connections_active"), 1)
        session.sendall(b"draining")  # the open session is still served
        self.assertEqual(session.recv(64), b"draining")
        session.close()
        self.assertEqual(srv.wait_exit(), 0)


class Promtool(MetricsTestCase):
    def test_check_metrics_finds_nothing(self):
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool missing: scripts/deps installs the prometheus package")
        srv, address = self.metrics_server()
        tcp_echo(srv.port, b"some traffic")
        udp_echo(srv.port, b"and some more")
        body = request(address, "/metrics")[2]
        out = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout + out.stderr, b"", "promtool lint findings")


class HostileHttpClients(MetricsTestCase):
    def run_hostile(self, *args):
        srv, address = self.metrics_server("--udp-rate-limit", "0", *args)
        # 200 idle connections: 64 are held; each past them takes the place
        # of the one that has waited longest, which is closed at once.
        idle = [socket.create_connection(address, timeout=10 * SLOW) for _ in range(200)]
        for c in idle:
            self.addCleanup(c.close)
        closed_at_once = closed_within(idle, 2 * SLOW)
        self.assertEqual(closed_at_once, 200 - 64)
        # A client that never finishes its headers (in the place of one more).
        started = time.monotonic()
        slow = socket.create_connection(address, timeout=30 * SLOW)
        self.addCleanup(slow.close)
        slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        # Echo traffic meanwhile is untouched.
        for _ in range(20):
            self.assertEqual(tcp_echo(srv.port, b"echo goes on"), b"echo goes on")
            self.assertEqual(udp_echo(srv.port, b"udp too"), b"udp too")
        # The held ones, the slow one included, are closed 10 s after they came.
        slow.settimeout(20 * SLOW)
        self.assertEqual(slow.recv(100), b"")
        waited = time.monotonic() - started
        self.assertGreater(waited, 9.5)
        self.assertLess(waited, 10 + 5 * SLOW)
        for c in idle:
            c.close()
        # Then the endpoint serves again, and counted what it closed.
        end = deadline(10)
        while True:
            try:
                samples = scrape(address)
                break
            except (ConnectionResetError, ConnectionAbortedError, OSError):
                self.assertLess(time.monotonic(), end)
                time.sleep(0.05)
        self.assertEqual(value(samples, "echo_metrics_connections_evicted_total"), 200 - 64 + 1)
        self.assertEqual(value(samples, "echo_metrics_connections_rejected_total"), 0)
        self.assertEqual(srv.stop(), 0)

    def test_one_thread(self):
        self.run_hostile()

    def test_two_threads(self):
        self.run_hostile("--threads", "2")


class Options(MetricsTestCase):
    def test_bad_values_exit_2_naming_the_option(self):
        server = os.environ.get("ECHO_SERVER", "echo-server")
        for bad in ("9100", "localhost:9100", "::1:9100", "127.0.0.1:70000"):
            with self.subTest(value=bad):
                out = subprocess.run([server, "--metrics", bad], capture_output=True, timeout=30)
                self.assertEqual(out.returncode, 2)
                self.assertIn(f"invalid value for --metrics: '{bad}'".encode(), out.stderr)
        out = subprocess.run([server], capture_output=True, timeout=30, env={**os.environ, "ECHO_SERVER_METRICS": "x"})
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"invalid value for ECHO_SERVER_METRICS: 'x'", out.stderr)

    def test_port_in_use_exits_1_naming_the_address(self):
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([os.environ.get("ECHO_SERVER", "echo-server"), "--port", "0", "--metrics",
                              f"127.0.0.1:{port}"], capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"cannot listen (metrics) on 127.0.0.1:{port}: Address already in use".encode(), out.stderr)
        self.assertNotIn(b"listening tcp", out.stderr)  # nothing claimed to listen

    def test_ipv6(self):
        srv = self.server("--port", "0", "--bind", "::1", "--metrics", "[::1]:0")
        address = metrics_address(srv)
        self.assertEqual(address[0], "::1")
        self.assertEqual(request(address, "/healthz")[0], 200)


if __name__ == "__main__":
    unittest.main()
