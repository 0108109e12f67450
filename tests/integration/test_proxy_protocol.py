"""--proxy-protocol and --proxy-trusted with the real binary, and
echo-client --proxy-header: headers v1 and v2 accepted and never echoed, the
client they name in the session logs, every malformed, oversized or slow
header closed and counted in /metrics, untrusted sources closed."""

import os
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import CLIENT, SERVER, SLOW, EchoTestCase, run, tcp_echo  # noqa: E402
from metrics_support import metrics_address, scrape, value  # noqa: E402

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(command, family, body):
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


def v2_tcp4(source, sport, destination, dport, tlvs=b""):
    return v2(1, 0x11, socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack("!HH", sport, dport)
              + tlvs)


def v2_tcp6(source, sport, destination, dport, tlvs=b""):
    return v2(1, 0x21, socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, destination)
              + struct.pack("!HH", sport, dport) + tlvs)


def tlv(kind, data):
    return bytes([kind]) + struct.pack("!H", len(data)) + data


class ProxyTestCase(EchoTestCase):
    def proxy_server(self, *args):
        srv = self.server("--port", "0", "--bind", "127.0.0.1", "--proxy-protocol", "--log-level", "debug",
                          "--metrics", "127.0.0.1:0", *args)
        return srv, metrics_address(srv)

    def exchange(self, port, first, data=b"", source="127.0.0.1", pieces=False):
        """Sends `first` (whole, or a byte at a time), then `data`; returns
        what comes back until the server closes or 5 s pass quietly."""
        with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW, source_address=(source, 0)) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                if pieces:
                    for i in range(len(first)):
                        s.sendall(first[i:i + 1])
                        time.sleep(0.002)  # pacing, so each byte travels in a segment of its own
                else:
                    s.sendall(first)
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # closed on us already: what came back (nothing) says the rest
            out = b""
            try:
                while chunk := s.recv(65536):
                    out += chunk
            except ConnectionResetError:
                pass
            return out

    def rejected(self, address, reason):
        return value(scrape(address), "echo_tcp_connections_rejected_total", reason=reason)


class Accepted(ProxyTestCase):
    def test_every_kind_of_header_is_consumed_and_names_the_client(self):
        srv, address = self.proxy_server()
        cases = [
            (b"PROXY TCP4 192.0.2.10 198.51.100.1 40001 9001\r\n", "192.0.2.10:40001", False),
            (b"PROXY TCP6 2001:db8::10 2001:db8::1 40002 9001\r\n", "[2001:db8::10]:40002", False),
            (b"PROXY UNKNOWN\r\n", None, False),
            (v2_tcp4("192.0.2.20", 40003, "198.51.100.1", 9001), "192.0.2.20:40003", False),
            (v2_tcp6("2001:db8::20", 40004, "2001:db8::1", 9001,
                     tlv(0x02, b"echo.example") + tlv(0x05, b"\x01\x02") + tlv(0xEE, b"skipped")),
             "[2001:db8::20]:40004", False),
            (v2(0, 0x00, b""), None, False),  # LOCAL: a balancer's own health check
            (b"PROXY TCP4 192.0.2.30 198.51.100.1 40005 9001\r\n", "192.0.2.30:40005", True),
            (v2_tcp4("192.0.2.31", 40006, "198.51.100.1", 9001), "192.0.2.31:40006", True),
        ]
        for header, client, pieces in cases:
            with self.subTest(header=header, pieces=pieces):
                data = os.urandom(3000)
                self.assertEqual(self.exchange(srv.port, header, data, pieces=pieces), data)
                if client:
                    srv.wait_log(r"session opened: peer %s via 127\.0\.0\.1:\d+ \(PROXY v" % client.replace("[", r"\[")
                                 .replace("]", r"\]").replace(".", r"\."))
        srv.wait_log(r"authority 'echo\.example' unique-id 0102")
        # Data in the same segment as the header is echoed, the header is not.
        self.assertEqual(self.exchange(srv.port, b"PROXY UNKNOWN\r\nsame segment"), b"same segment")
        samples = scrape(address)
        self.assertEqual(value(samples, "echo_tcp_connections_rejected_total", reason="proxy_protocol"), 0)
        self.assertEqual(srv.stop(), 0)

    def test_echo_client_sends_v1_and_v2_in_every_tcp_mode(self):
        srv, _ = self.proxy_server()
        for version in ("v1", "v2"):
            with self.subTest(version=version):
                out = run([CLIENT, "127.0.0.1", str(srv.port), "--proxy-header", version, "-m", "hi", "--check"])
                self.assertEqual((out.returncode, out.stdout), (0, b"hi\n"), out.stderr)
                data = os.urandom(100_000)
                out = run([CLIENT, "127.0.0.1", str(srv.port), "--proxy-header", version], input=data)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertTrue(out.stdout == data)
                out = run([CLIENT, "127.0.0.1", str(srv.port), "--proxy-header", version, "--bench", "--connections",
                           "4", "--duration", "0.5", "--json"], timeout=60)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertIn(b'"mismatches": 0', out.stdout.replace(b'"mismatches":0', b'"mismatches": 0'))
        srv.wait_log(r"session opened: peer 127\.0\.0\.1:\d+ via 127\.0\.0\.1:\d+ \(PROXY v2\)")

    def test_without_the_option_a_header_is_just_data(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1")
        header = b"PROXY TCP4 192.0.2.1 198.51.100.1 1 2\r\n"
        self.assertEqual(tcp_echo(srv.port, header + b"data"), header + b"data")


class Rejected(ProxyTestCase):
    def test_malformed_and_oversized_headers_are_closed_and_counted(self):
        srv, address = self.proxy_server()
        bad = [
            b"GET / HTTP/1.1\r\n\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.1 1 2 3\r\n",
            b"PROXY UNKNOWN " + b"x" * 93,  # 107 bytes, no CRLF
            v2(1, 0x11, b"\x00" * 65535),   # claims 65535 bytes
            v2(1, 0x11, b"\x00" * 8),       # too short for its addresses
            V2_SIGNATURE + bytes([0x31, 0x11, 0, 12]) + b"\x00" * 12,  # version 3
        ]
        for header in bad:
            with self.subTest(header=header[:40]):
                started = time.monotonic()
                self.assertEqual(self.exchange(srv.port, header, b"never echoed"), b"")
                self.assertLess(time.monotonic() - started, 2 * SLOW)  # at once, not after the 5 s
        self.assertEqual(self.rejected(address, "proxy_protocol"), len(bad))
        self.assertEqual(tcp_echo(srv.port, b"PROXY UNKNOWN\r\nothers fine"), b"others fine")

    def test_the_verdict_does_not_depend_on_how_the_header_is_split(self):
        # A bare LF or CR inside a v1 line: refused whole and a byte at a time
        # alike (before, the first was accepted in one segment and refused a
        # byte at a time). A LF after the CRLF is data, both ways.
        srv, address = self.proxy_server()
        for header in (b"PROXY UNKNOWN x\nfoo\r\n", b"PROXY UNKNOWN x\rfoo\r\n"):
            for pieces in (False, True):
                with self.subTest(header=header, pieces=pieces):
                    self.assertEqual(self.exchange(srv.port, header, b"never echoed", pieces=pieces), b"")
        self.assertEqual(self.rejected(address, "proxy_protocol"), 4)
        for pieces in (False, True):
            with self.subTest(pieces=pieces):
                self.assertEqual(self.exchange(srv.port, b"PROXY UNKNOWN x\r\n", b"foo\nbar", pieces=pieces),
                                 b"foo\nbar")
        self.assertEqual(self.rejected(address, "proxy_protocol"), 4)

    def test_half_a_header_then_nothing_is_closed_after_5_s(self):
        srv, address = self.proxy_server()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=20 * SLOW) as s:
            started = time.monotonic()
            s.sendall(b"PROXY TCP4 192.0.2.1 ")
            self.assertEqual(s.recv(100), b"")
            waited = time.monotonic() - started
        self.assertGreater(waited, 4.5)
        self.assertLess(waited, 5 + 3 * SLOW)
        self.assertEqual(self.rejected(address, "proxy_protocol"), 1)
        srv.wait_log(r"no complete PROXY protocol header within 5s")

    def test_untrusted_sources_are_closed_at_once(self):
        srv, address = self.proxy_server("--proxy-trusted", "127.0.0.2/32,::1")
        self.assertEqual(self.exchange(srv.port, b"PROXY UNKNOWN\r\n", b"x", source="127.0.0.1"), b"")
        self.assertEqual(self.exchange(srv.port, b"PROXY UNKNOWN\r\n", b"trusted", source="127.0.0.2"), b"trusted")
        self.assertEqual(self.rejected(address, "untrusted"), 1)
        self.assertEqual(self.rejected(address, "proxy_protocol"), 0)


class Options(unittest.TestCase):
    def test_usage_errors(self):
        for args, message in (
            (["--proxy-trusted", "10.0.0.0/8"], b"--proxy-trusted needs --proxy-protocol"),
            (["--proxy-protocol", "--proxy-trusted", "10.0.0.0/33"],
             b"invalid value for --proxy-trusted: '10.0.0.0/33' has a prefix length that is not 0 to 32"),
            (["--proxy-protocol", "--proxy-trusted", "10.0.0.0/8,,::1"],
             b"invalid value for --proxy-trusted: an empty element"),
        ):
            with self.subTest(args=args):
                out = subprocess.run([SERVER, *args], capture_output=True, timeout=30)
                self.assertEqual(out.returncode, 2)
                self.assertIn(message, out.stderr)
        out = run([CLIENT, "--proxy-header", "v3", "-m", "x"])
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"invalid value for --proxy-header: 'v3' (expected v1 or v2)", out.stderr)
        out = run([CLIENT, "--proxy-header", "v1", "--udp", "-m", "x"])
        self.assertEqual(out.returncode, 2)


if __name__ == "__main__":
    unittest.main()
