"""Peers that try to hurt echo-server: none may crash it, starve it, grow
its memory without bound, or cost another client its data."""

import os
import random
import re
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import (CLIENT, SLOW, EchoTestCase, counters, cpu_seconds, deadline, needs_root,  # noqa: E402
                          rss_kib, run, tcp_echo, udp_echo)


def limit_descriptors(n):
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return apply


class DescriptorExhaustion(EchoTestCase):
    def test_64_descriptors_120_clients(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1", preexec_fn=limit_descriptors(64))
        first = socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW)
        clients = [socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW)
                   for _ in range(119)]
        try:
            srv.wait_log("accept failed: .*pausing", 10)
            # Out of descriptors with connections waiting: no busy loop.
            before = cpu_seconds(srv.proc.pid)
            time.sleep(3)
            used = cpu_seconds(srv.proc.pid) - before
            self.assertLess(used, 0.3 * SLOW, f"server burned {used:.2f}s of CPU in 3s")
            # Sessions it has keep working.
            first.sendall(b"still served")
            self.assertEqual(first.recv(64), b"still served")
            srv.pump(0)
            pausing = [line for line in srv.lines if "accept failed" in line]
            self.assertLessEqual(len(pausing), 6)  # rate-limited warnings
        finally:
            for c in clients:
                c.close()
        # Service resumes once descriptors are free again.
        self.assertEqual(tcp_echo(srv.port, b"resumed", timeout=10), b"resumed")
        first.close()
        self.assertEqual(srv.stop(), 0)
        self.assertGreater(counters(srv)["accept_errors"], 0)


class SendsButNeverReads(EchoTestCase):
    def test_memory_stays_bounded_and_others_are_served(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1")
        tcp_echo(srv.port, os.urandom(1 << 20))  # warm up allocations
        baseline = rss_kib(srv.proc.pid)
        hogs = []
        sent = 0
        for _ in range(4):
            hog = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            hog.setblocking(False)
            hogs.append(hog)
        chunk = os.urandom(1 << 20)
        end = time.monotonic() + 3 * SLOW
        while time.monotonic() < end and sent < (400 << 20):
            progressed = False
            for hog in hogs:
                try:
                    sent += hog.send(chunk)
                    progressed = True
                except BlockingIOError:
                    pass
            if not progressed:
                time.sleep(0.01)
            # Another client is served all the while.
        self.assertEqual(tcp_echo(srv.port, b"other client"), b"other client")
        growth = rss_kib(srv.proc.pid) - baseline
        self.assertLess(sent, 400 << 20, "the server kept reading from a peer that never reads")
        self.assertLess(growth, 8 * 1024 * SLOW, f"RSS grew by {growth} KiB")
        for hog in hogs:
            hog.close()
        self.assertEqual(srv.stop(), 0)


class ManyConnections(EchoTestCase):
    def test_5000_connections_from_several_addresses_all_echo(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1")
        sockets = []
        try:
            for i in range(5000):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(20 * SLOW)
                s.bind((f"127.0.0.{2 + i % 4}", 0))
                s.connect(("127.0.0.1", srv.port))
                sockets.append(s)
            for i, s in enumerate(sockets):
                s.sendall(b"%05d" % i)
            for i, s in enumerate(sockets):
                got = b""
                while len(got) < 5:
                    part = s.recv(5 - len(got))
                    self.assertNotEqual(part, b"", f"connection {i} closed")
                    got += part
                self.assertEqual(got, b"%05d" % i)
        finally:
            for s in sockets:
                s.close()
        self.assertEqual(srv.stop(30), 0)
        self.assertEqual(counters(srv)["sessions_opened"], 5000)


class Storms(EchoTestCase):
    def test_random_udp_storm_does_not_hurt_other_clients(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1", "--udp-rate-limit", "0",
                          "--max-datagram", "30000")
        rng = random.Random(2024)

        def storm():
            socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
            try:
                for n in range(5000):
                    size = rng.choice((0, 1, rng.randrange(65508), 30000, 30001, 65507))
                    socks[n % 8].sendto(os.urandom(size), ("127.0.0.1", srv.port))
                    if n % 10 == 9:
                        time.sleep(0.0005)  # a storm, but one the kernel queue can mostly hold
            finally:
                for s in socks:
                    s.close()

        stormer = threading.Thread(target=storm)
        stormer.start()
        try:
            data = os.urandom(300_000)
            self.assertEqual(tcp_echo(srv.port, data, timeout=20), data)
            # Our own UDP client still gets answers (retry: loss is UDP's right under a storm).
            ok = False
            end = deadline(10)
            while not ok and time.monotonic() < end:
                try:
                    ok = udp_echo(srv.port, b"are you there", timeout=0.5) == b"are you there"
                except socket.timeout:
                    pass
            self.assertTrue(ok)
        finally:
            stormer.join(60 * SLOW)
        self.assertEqual(udp_echo(srv.port, b"after the storm"), b"after the storm")
        self.assertEqual(srv.stop(), 0)
        c = counters(srv)
        self.assertGreater(c["datagrams_in"], 1000)
        self.assertGreater(c["dropped_too_large"], 0)
        # Every datagram was either echoed whole or dropped and counted.
        self.assertEqual(c["datagrams_in"], c["datagrams_out"] + c["dropped_too_large"])

    def test_garbage_tcp_sessions_and_abrupt_resets(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1")
        rng = random.Random(7)
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(os.urandom(rng.randrange(1, 100_000)))
            if rng.random() < 0.5:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        data = os.urandom(50_000)
        self.assertEqual(tcp_echo(srv.port, data), data)
        self.assertEqual(srv.stop(), 0)

    def test_urgent_data_does_not_stall_a_session(self):
        # Linux ends a read at an urgent mark. The bytes behind the mark are
        # echoed without the client sending anything more, and the urgent
        # byte itself, out of band, is not part of the stream. (Whether the
        # server reads before or after the bytes behind the mark arrive is
        # up to timing here; unit/read_when_ready_test.cpp sets up the case
        # where a short read taken for "drained" stalls, deterministically.)
        srv = self.server("--port", "0", "--bind", "127.0.0.1")
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            for round_ in range(50):
                before, after = b"before %d " % round_, b"after %d;" % round_
                # Corked, so that all of it arrives at once, mark inside.
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                s.sendall(before)
                s.send(b"!", socket.MSG_OOB)
                s.sendall(after)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
                got = b""
                while len(got) < len(before + after):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, "the server closed the session")
                    got += chunk
                self.assertEqual(got, before + after)
        self.assertEqual(srv.stop(), 0)


IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux: 8; Python 3.11 does not name it


def send_from(sock, source, payload, target):
    """Sends a datagram whose source address is `source`, any address this
    host owns (all of 127.0.0.0/8), without binding to it: IP_PKTINFO."""
    pktinfo = struct.pack("=I4s4s", 0, socket.inet_aton(source), b"\0" * 4)
    sock.sendmsg([payload], [(socket.IPPROTO_IP, IP_PKTINFO, pktinfo)], 0, target)


def unkeyed_set(address, sets=4096):
    """Where the rate limiter's table used to put an IPv4 source, with a hash
    anyone could compute (FNV-1a of the v4-mapped address): a known hash lets
    an attacker pick addresses that share a victim's set."""
    h = 1469598103934665603
    for byte in b"\0" * 10 + b"\xff\xff" + socket.inet_aton(address):
        h = ((h ^ byte) * 1099511628211) % (1 << 64)
    return (h ^ (h >> 29)) & (sets - 1)


def colliding_addresses(victim, count):
    target = unkeyed_set(victim)
    found = []
    for i in range(1, 1 << 22):
        address = f"127.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        if address != victim and unkeyed_set(address) == target:
            found.append(address)
            if len(found) == count:
                return found
    raise AssertionError("no colliding addresses found")


def server_socket_memory(port):
    """skmem of the server's end of each connection on `port` (ss -tm):
    r = receive queue, w = send queue, rb and tb = the buffer limits."""
    out = subprocess.run(["ss", "-tmnH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return [{k: int(v) for k, v in re.findall(r"([a-z]+)(\d+)", m)} for m in re.findall(r"skmem:\(([^)]*)\)", out)]


class KernelMemoryPerNonReader(EchoTestCase):
    def non_reader_memory(self, *args):
        srv = self.server("--tcp", "--port", "0", "--bind", "127.0.0.1", *args)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW) as s:
            s.setblocking(False)
            chunk = b"x" * 65536
            stable, last = 0, None
            end = deadline(20)
            # Send and never read, until both directions are full and the
            # server's socket stops growing.
            while time.monotonic() < end and stable < 5:
                try:
                    while True:
                        s.send(chunk)
                except BlockingIOError:
                    pass
                memory = server_socket_memory(srv.port)
                self.assertEqual(len(memory), 1, memory)
                now = memory[0]["r"] + memory[0]["w"]
                stable = stable + 1 if now == last else 0
                last = now
                time.sleep(0.05)
            return memory[0]

    def test_default_bounds_a_non_reader_to_about_1_mib(self):
        memory = self.non_reader_memory()
        # --tcp-buffer 262144: the kernel doubles it for each direction, and
        # the send queue may go one segment (at most 64 KiB) past its limit.
        self.assertEqual(memory["rb"], 2 * 262144, memory)
        self.assertEqual(memory["tb"], 2 * 262144, memory)
        self.assertGreater(memory["w"], 2 * 262144 // 2, memory)  # it did fill up
        self.assertLessEqual(memory["r"] + memory["w"], (1 << 20) + (64 << 10), memory)

    def test_other_value(self):
        memory = self.non_reader_memory("--tcp-buffer", "65536")
        self.assertEqual(memory["tb"], 2 * 65536, memory)
        self.assertLessEqual(memory["r"] + memory["w"], 4 * 65536 + (64 << 10), memory)


class EchoService(threading.Thread):
    """Another UDP echo service on an unprivileged port, `delay` seconds away.
    It counts what it receives, notes when the first and the last datagram
    came, and stops after `seconds`."""

    def __init__(self, delay, seconds):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.delay, self.seconds, self.received = delay, seconds, 0
        self.first = self.last = None

    def run(self):
        end = time.monotonic() + self.seconds
        self.sock.settimeout(0.1)
        while time.monotonic() < end:
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            self.last = time.monotonic()
            self.first = self.first or self.last
            self.received += 1
            if self.delay:
                time.sleep(self.delay)  # the other service's distance, not a wait
            self.sock.sendto(data, peer)
        self.sock.close()

    def lifetime(self):
        """Seconds from the first datagram to the last one that reached it."""
        return self.last - self.first if self.first else 0.0


class EchoLoops(EchoTestCase):
    LOOSE = ("--udp", "--port", "0", "--bind", "127.0.0.1", "--udp-rate-limit", "0", "--udp-blocked-ports", "")

    def test_own_port_is_never_answered(self):
        srv = self.server(*self.LOOSE)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as twin:
            # Another address, the server's own port: another instance of the
            # service, as far as the server can tell.
            twin.bind(("127.0.0.2", srv.port))
            with self.assertRaises(socket.timeout):
                udp_echo(srv.port, b"loop?", sock=twin, timeout=0.5)
        self.assertEqual(udp_echo(srv.port, b"others fine"), b"others fine")
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["dropped_blocked_port"], 1)

    def test_a_loop_with_another_echo_service_dies_out(self):
        # Neither the block list nor the rate limit in the way: the damping
        # alone must end it. The other service answers at once, as an echo
        # service does; one datagram from its port starts the loop, as a
        # spoofed one would. Measured: it dies 0.25 s after it started.
        srv = self.server(*self.LOOSE)
        other = EchoService(0, seconds=4 * SLOW)
        other.start()
        other.sock.sendto(b"spoofed once", ("127.0.0.1", srv.port))
        other.join(10 * SLOW)
        self.assertEqual(srv.stop(), 0)
        self.assertGreaterEqual(counters(srv)["dropped_loop"], 1)
        self.assertLess(other.lifetime(), 1.0 * SLOW, f"the loop lived {other.lifetime():.2f} s, "
                        f"{other.received} echoes reached the other service")

    def test_without_damping_such_a_loop_goes_on(self):
        srv = self.server(*self.LOOSE, "--udp-loop-damping", "off")
        other = EchoService(0, seconds=1.5)
        other.start()
        other.sock.sendto(b"spoofed once", ("127.0.0.1", srv.port))
        other.join(10 * SLOW)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["dropped_loop"], 0)
        self.assertGreater(other.lifetime(), 1.0, f"{other.received} echoes")

    def test_clients_that_wait_for_each_answer_are_always_answered(self):
        # The same payload from one socket, each sent once the last was
        # answered, every 10, 100 or 300 ms: a client polling, not a loop.
        # (Before: 54 of 300, 28 of 40 and 15 of 16 answered.)
        srv = self.server(*self.LOOSE)
        answered = {}

        def poll(interval, count):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.2 * SLOW)
                got, due = 0, time.monotonic()
                for _ in range(count):
                    s.sendto(b"ping", ("127.0.0.1", srv.port))
                    try:
                        got += s.recv(65536) == b"ping"
                    except socket.timeout:
                        pass
                    due += interval
                    time.sleep(max(0.0, due - time.monotonic()))  # the client's interval
                answered[interval] = got

        schedule = {0.01: 300, 0.1: 40, 0.3: 16}
        threads = [threading.Thread(target=poll, args=item, daemon=True) for item in schedule.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(answered, schedule)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["dropped_loop"], 0)

    def test_a_pipe_of_identical_lines_is_answered_in_full(self):
        # `yes ping | head -50 | echo-client --udp`: 36 of 50 before, and
        # 5 s of waiting for each one missing.
        srv = self.server(*self.LOOSE)
        started = time.monotonic()
        out = run([CLIENT, "--udp", "127.0.0.1", "-p", str(srv.port), "--timeout", "1"], input=b"ping\n" * 50)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"ping\n" * 50)
        self.assertLess(time.monotonic() - started, 1.0 * SLOW)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["dropped_loop"], 0)

    @needs_root("sends a datagram with another service's source address and port (raw socket)")
    def test_a_loop_between_two_of_our_servers_dies_out(self):
        a = self.server(*self.LOOSE)
        b = self.server("--udp", "--port", "0", "--bind", "127.0.0.2", "--udp-rate-limit", "0",
                        "--udp-blocked-ports", "")
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP) as raw:
            raw.bind(("127.0.0.2", 0))
            payload = b"spoofed from b"
            header = struct.pack("!HHHH", b.port, a.port, 8 + len(payload), 0)  # checksum 0: none (IPv4)
            raw.sendto(header + payload, ("127.0.0.1", a.port))
        # Wait (bounded) until one of them reports the loop it cut.
        end = deadline(10)
        while time.monotonic() < end and not any("echo loop" in line for line in a.lines + b.lines):
            a.pump(0.05)
            b.pump(0.05)
        self.assertEqual(a.stop(), 0)
        self.assertEqual(b.stop(), 0)
        total = counters(a)["datagrams_in"] + counters(b)["datagrams_in"]
        self.assertLess(total, 100_000, f"{total} datagrams went round")
        self.assertGreaterEqual(counters(a)["dropped_loop"] + counters(b)["dropped_loop"], 1)

    def test_clients_that_repeat_themselves_slowly_or_vary_are_answered(self):
        srv = self.server(*self.LOOSE)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            # A health check on one socket, the same text every 0.6 s.
            for i in range(5):
                self.assertEqual(udp_echo(srv.port, b"health", sock=s), b"health", f"check {i}")
                if i < 4:
                    time.sleep(0.6)  # the check's interval
            # A client whose requests differ, as fast as replies come.
            for i in range(500):
                request = b"request %d" % i
                self.assertEqual(udp_echo(srv.port, request, sock=s), request)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["dropped_loop"], 0)


class RateLimitEvasion(EchoTestCase):
    def test_evicting_a_victims_slot_does_not_lift_its_limit(self):
        # Before each of the victim's datagrams, four sources chosen to share
        # its slot set push it out of the table. With a hash nobody can
        # predict, and no fresh burst for a source coming back, the victim
        # still gets no more than its limit.
        srv = self.server("--udp", "--port", "0", "--bind", "127.0.0.1", "--udp-rate-limit", "100",
                          "--udp-blocked-ports", "")
        colliders = colliding_addresses("127.0.0.1", 4)
        target = ("127.0.0.1", srv.port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as victim, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
            victim.bind(("127.0.0.1", 0))
            victim.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            attacker.bind(("0.0.0.0", 0))
            started = time.monotonic()
            for i in range(1000):
                for source in colliders:
                    send_from(attacker, source, b"x", target)
                victim.sendto(b"victim %d" % i, target)
                if i % 50 == 49:
                    time.sleep(0.001)
            sending = time.monotonic() - started
            replies = 0
            victim.settimeout(0.5 * SLOW)
            try:
                while victim.recv(64):
                    replies += 1
            except socket.timeout:
                pass
        # A few datagrams (8) as a new source, then 100 a second.
        self.assertLessEqual(replies, 8 + 100 * sending + 5, f"{replies} echoes in {sending:.2f} s")
        self.assertGreaterEqual(replies, 1)


if __name__ == "__main__":
    unittest.main()
