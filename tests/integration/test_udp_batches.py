"""UDP batching with the real binary: datagrams that queue up while the server
is paused (SIGSTOP) are taken together (recvmmsg) and echoed together
(sendmmsg), and every rule still applies to each datagram on its own. (A
send batch that partly would block is test_udp_send_buffer.py: there the
send buffer fills in the middle of batches, and nothing is lost.)"""

import os
import signal
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import SLOW, EchoTestCase, counters  # noqa: E402


def udp_socket(test, address, port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    test.addCleanup(s.close)
    s.bind((address, port))
    s.settimeout(2 * SLOW)
    return s


def replies(sock, wait):
    """Everything that comes back to `sock` until `wait` seconds pass quietly."""
    sock.settimeout(wait)
    got = []
    try:
        while True:
            got.append(sock.recv(65536))
    except socket.timeout:
        return got


class Batches(EchoTestCase):
    def paused(self, srv, send):
        """Runs `send` while the server is stopped, so that everything sent
        is queued when it resumes and comes in as one batch."""
        srv.proc.send_signal(signal.SIGSTOP)
        try:
            send()
        finally:
            srv.proc.send_signal(signal.SIGCONT)

    def test_one_batch_of_blocked_over_limit_oversized_and_good_datagrams(self):
        blocked = udp_socket(self, "127.0.0.3")
        blocked_port = blocked.getsockname()[1]
        srv = self.server("--udp", "--bind", "127.0.0.1", "--port", "0", "--udp-rate-limit", "3",
                          "--max-datagram", "100", "--udp-blocked-ports", str(blocked_port))
        target = ("127.0.0.1", srv.udp_port)
        def not_blocked(address):
            """A socket on another address may get the blocked port's number too."""
            while (s := udp_socket(self, address)).getsockname()[1] == blocked_port:
                pass
            return s

        greedy = not_blocked("127.0.0.2")  # its address may have 3 a second
        big = not_blocked("127.0.0.4")
        good = [not_blocked(f"127.0.0.{5 + i}") for i in range(4)]

        def send():
            for i in range(6):
                greedy.sendto(b"greedy %d" % i, target)
            blocked.sendto(b"from a blocked port", target)
            big.sendto(b"x" * 200, target)
            for i, s in enumerate(good):
                s.sendto(b"good %d" % i, target)
        self.paused(srv, send)

        for i, s in enumerate(good):
            self.assertEqual(s.recv(65536), b"good %d" % i)
        self.assertEqual(replies(greedy, 1 * SLOW), [b"greedy 0", b"greedy 1", b"greedy 2"])
        self.assertEqual(replies(blocked, 0.2), [])
        self.assertEqual(replies(big, 0.2), [])
        self.assertEqual(srv.stop(), 0)
        c = counters(srv)
        self.assertEqual(c["datagrams_in"], 12)
        self.assertEqual(c["datagrams_out"], 7)
        self.assertEqual(c["dropped_rate_limited"], 3)
        self.assertEqual(c["dropped_blocked_port"], 1)
        self.assertEqual(c["dropped_too_large"], 1)
        self.assertEqual(c["udp_bytes_out"], sum(len(b"good %d" % i) for i in range(4)) + 3 * len(b"greedy 0"))

    def test_more_than_a_wake_up_s_worth_is_all_echoed_in_order(self):
        srv = self.server("--udp", "--bind", "127.0.0.1", "--port", "0", "--udp-rate-limit", "0")
        target = ("127.0.0.1", srv.udp_port)
        s = udp_socket(self, "127.0.0.1")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        count = 200  # batches of 32, wake-ups of 64: several of each

        def send():
            for i in range(count):
                s.sendto(b"%05d" % i + bytes([i % 256]) * (i % 300), target)
        self.paused(srv, send)

        got = replies(s, 1 * SLOW)
        self.assertEqual(got, [b"%05d" % i + bytes([i % 256]) * (i % 300) for i in range(count)])
        self.assertEqual(srv.stop(), 0)
        c = counters(srv)
        self.assertEqual((c["datagrams_in"], c["datagrams_out"]), (count, count))

    def test_large_and_small_datagrams_in_one_batch_come_back_whole(self):
        # Sizes around the 2 KiB where a slot's dense part ends, and the largest.
        srv = self.server("--udp", "--bind", "127.0.0.1", "--port", "0", "--udp-rate-limit", "0")
        target = ("127.0.0.1", srv.udp_port)
        s = udp_socket(self, "127.0.0.1")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        sizes = [1, 2047, 2048, 2049, 4096, 30000, 65507, 100, 65507, 2049]
        payloads = [os.urandom(n) for n in sizes]

        def send():
            for payload in payloads:
                s.sendto(payload, target)
        self.paused(srv, send)
        got = replies(s, 1 * SLOW)
        self.assertEqual([len(p) for p in got], sizes)
        self.assertTrue(got == payloads, "a datagram came back changed")
        self.assertEqual(srv.stop(), 0)
        c = counters(srv)
        self.assertEqual(c["udp_bytes_out"], sum(sizes))

    def test_an_empty_datagram_in_a_batch_is_echoed_empty(self):
        srv = self.server("--udp", "--bind", "127.0.0.1", "--port", "0", "--udp-rate-limit", "0")
        target = ("127.0.0.1", srv.udp_port)
        s = udp_socket(self, "127.0.0.1")

        def send():
            for payload in (b"before", b"", b"after"):
                s.sendto(payload, target)
        self.paused(srv, send)
        self.assertEqual(replies(s, 1 * SLOW), [b"before", b"", b"after"])
        self.assertEqual(srv.stop(), 0)


class AnswersFromTheAddressAsked(EchoTestCase):
    """Bound to a wildcard address, the server answers each datagram from the
    address it was sent to (127.0.0.2, 127.0.0.3, ...: all of 127/8 is this
    host's), not from the one the route back to the client prefers
    (127.0.0.1). A connected socket, such as nc's, accepts nothing else."""

    def check(self, *bind):
        srv = self.server("--port", "0", *bind, "--udp-rate-limit", "0")
        for target in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
            s = udp_socket(self, "127.0.0.1")
            s.connect((target, srv.port))  # the kernel drops datagrams from anywhere else
            s.send(b"to " + target.encode())
            self.assertEqual(s.recv(100), b"to " + target.encode())
        # Several destinations within one batch: each echo from its own.
        s = udp_socket(self, "127.0.0.1")
        targets = ["127.0.0.%d" % (2 + i % 4) for i in range(40)]
        self.paused(srv, lambda: [s.sendto(b"%d" % i, (t, srv.port)) for i, t in enumerate(targets)])
        got = {}
        s.settimeout(2 * SLOW)
        while len(got) < len(targets):
            data, source = s.recvfrom(100)
            got[int(data)] = source[0]
        self.assertEqual([got[i] for i in range(len(targets))], targets)
        self.assertEqual(srv.stop(), 0)

    paused = Batches.paused

    def test_bound_to_the_ipv6_wildcard(self):  # the default: "::"
        self.check()

    def test_bound_to_the_ipv4_wildcard(self):
        self.check("--bind", "0.0.0.0")

    def test_nc_gets_its_echo_from_a_second_address(self):
        srv = self.server("--port", "0")
        out = subprocess.run(["nc", "-u", "-w", "1", "127.0.0.2", str(srv.port)], input=b"over nc\n",
                             capture_output=True, timeout=10 * SLOW)
        self.assertEqual(out.stdout, b"over nc\n")
        self.assertEqual(srv.stop(), 0)

if __name__ == "__main__":
    unittest.main()
