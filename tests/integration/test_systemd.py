"""echo-server under systemd's protocols, with the real tools: socket
activation through `systemd-socket-activate` (TCP and UDP on one port at
once, IPv4 and IPv6), a descriptor of the wrong kind, and sd_notify
readiness to a notification socket the test owns."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import SERVER, SLOW, EchoTestCase, Server, deadline, free_port, tcp_echo, udp_echo  # noqa: E402

ACTIVATE = shutil.which("systemd-socket-activate")


def activate(*listen):
    """The command that listens on each (address, datagram?, name) and
    passes the sockets on, one systemd-socket-activate per socket, nested:
    each passes the sockets it was given through to the next."""
    command = []
    for address, datagram, name in listen:
        command += [ACTIVATE, "-l", address, f"--fdname={name}"] + (["-d"] if datagram else [])
    return command + [SERVER]


def connect_when_listening(family, address, seconds=10):
    end = deadline(seconds)
    while True:
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.settimeout(5 * SLOW)
            s.connect(address)
            return s
        except (ConnectionRefusedError, FileNotFoundError):
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.02)


class SocketActivation(EchoTestCase):
    def setUp(self):
        self.assertTrue(ACTIVATE, "systemd-socket-activate missing: scripts/deps installs systemd")

    def test_tcp_and_udp_on_one_port_ipv4_and_ipv6(self):
        port = free_port("::")
        unused = free_port("127.0.0.1")
        srv = Server("--port", str(unused), "--udp-rate-limit", "0", wait_listening=False,
                     wrapper=activate((f"[::]:{port}", False, "echo-tcp"), (f"[::]:{port}", True, "echo-udp")))
        self.addCleanup(srv.close)
        # The activators exec the next only once a connection comes: this
        # one starts the chain, and is then served by echo-server itself.
        first = connect_when_listening(socket.AF_INET6, ("::1", port))
        srv.wait_log(r"listening udp \[::\]:%d \(from systemd\)" % port)
        first.sendall(b"the first connection")
        self.assertEqual(first.recv(100), b"the first connection")
        first.close()
        self.assertTrue(any("socket activation: serving the 2 socket(s)" in line for line in srv.lines), srv.lines)
        for host in ("127.0.0.1", "::1"):
            with self.subTest(host=host):
                self.assertEqual(tcp_echo(port, b"tcp " + host.encode(), host=host), b"tcp " + host.encode())
                self.assertEqual(udp_echo(port, b"udp " + host.encode(), host=host), b"udp " + host.encode())
        # It bound nothing of its own: its --port is free for both protocols.
        with socket.socket() as s:
            self.assertNotEqual(s.connect_ex(("127.0.0.1", unused)), 0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", unused))  # would fail with EADDRINUSE if the server held it
        self.assertEqual(srv.stop(), 0)

    def test_a_descriptor_of_another_kind_exits_1_naming_it(self):
        workdir = tempfile.mkdtemp(prefix="echo-activate-")
        self.addCleanup(shutil.rmtree, workdir, True)
        path = os.path.join(workdir, "not-inet.sock")
        srv = Server(wait_listening=False, wrapper=activate((path, False, "odd")))
        self.addCleanup(srv.close)
        trigger = connect_when_listening(socket.AF_UNIX, path)
        self.addCleanup(trigger.close)
        self.assertEqual(srv.wait_exit(), 1)
        self.assertTrue(any("inherited descriptor 3 (name 'odd'): not a listening TCP socket or a UDP socket" in line
                            for line in srv.lines), srv.lines)


# Passes one descriptor as systemd would (LISTEN_FDS=1, LISTEN_PID its own
# pid, which exec keeps) and execs the server: a socket systemd itself
# never passes, or no descriptor at all.
LAUNCHER = r"""
import os, socket, sys
kind, server, args = sys.argv[1], sys.argv[2], sys.argv[3:]
s = None
if kind == "unbound-udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
elif kind == "connected-udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.connect(("127.0.0.1", 9))
elif kind == "listening-unix":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0echo-server-test-%d" % os.getpid())  # abstract: no file to clean up
    s.listen()
elif kind == "bound-udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
if s is not None:
    if s.fileno() != 3:
        os.dup2(s.fileno(), 3)  # the copy is inheritable
    os.set_inheritable(3, True)
else:
    try:
        os.close(3)
    except OSError:
        pass
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES=kind)
os.execv(server, [server] + args)
"""


class PassedDescriptors(EchoTestCase):
    def launch(self, kind, *args):
        srv = Server(*args, wait_listening=False, wrapper=(sys.executable, "-c", LAUNCHER, kind, SERVER))
        self.addCleanup(srv.close)
        return srv

    def assert_refused(self, kind, reason):
        srv = self.launch(kind)
        self.assertEqual(srv.wait_exit(), 1, srv.lines)
        self.assertTrue(any(f"inherited descriptor 3 (name '{kind}'): {reason}" in line for line in srv.lines),
                        srv.lines)
        self.assertFalse(any("listening udp" in line for line in srv.lines), srv.lines)

    def test_an_unbound_udp_socket_is_refused(self):
        # Before: served as 0.0.0.0:0.
        self.assert_refused("unbound-udp", "a UDP socket bound to no port, which would be served as 0.0.0.0:0")

    def test_a_connected_udp_socket_is_refused(self):
        # Before: served, answering its one peer only.
        self.assert_refused("connected-udp", "a connected UDP socket, which would answer 127.0.0.1:9 alone")

    def test_a_closed_descriptor_names_the_real_error(self):
        # Before: "Invalid argument".
        srv = self.launch("closed")
        self.assertEqual(srv.wait_exit(), 1, srv.lines)
        self.assertTrue(any("descriptor 3" in line and "Bad file descriptor" in line for line in srv.lines), srv.lines)
        self.assertFalse(any("Invalid argument" in line for line in srv.lines), srv.lines)

    def test_a_unix_socket_is_refused_as_not_inet(self):
        self.assert_refused("listening-unix", "not a listening TCP socket or a UDP socket (IPv4 or IPv6)")

    def test_a_bound_udp_socket_is_served(self):
        srv = self.launch("bound-udp", "--udp-rate-limit", "0")
        line = srv.wait_log(r"listening udp 127\.0\.0\.1:\d+ \(from systemd\)")
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        self.assertEqual(udp_echo(port, b"passed in"), b"passed in")
        self.assertEqual(srv.stop(), 0)


class Notify(EchoTestCase):
    def notify_socket(self):
        workdir = tempfile.mkdtemp(prefix="echo-notify-")
        self.addCleanup(shutil.rmtree, workdir, True)
        path = os.path.join(workdir, "notify")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(path)
        return s, path

    def receive(self, s, seconds=10):
        s.settimeout(seconds * SLOW)
        return dict(line.split("=", 1) for line in s.recv(4096).decode().splitlines())

    def test_ready_after_both_endpoints_echo_and_stopping_on_sigterm(self):
        s, path = self.notify_socket()
        srv = Server("--port", "0", "--bind", "127.0.0.1", "--udp-rate-limit", "0", "--shutdown-timeout", "10",
                     env={"NOTIFY_SOCKET": path}, wait_listening=False)
        self.addCleanup(srv.close)
        ready = self.receive(s)
        self.assertEqual(ready.get("READY"), "1", ready)
        self.assertEqual(ready.get("STATUS"), "serving: 0 session(s) open")
        # At READY=1 both endpoints answer at once: no retry, no wait.
        srv.wait_for(lambda: srv._listening_complete(()), 1, "the listening lines")
        self.assertEqual(tcp_echo(srv.port, b"ready tcp", timeout=1), b"ready tcp")
        self.assertEqual(udp_echo(srv.port, b"ready udp", timeout=1), b"ready udp")

        session = socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW)
        self.addCleanup(session.close)
        session.sendall(b"x")
        self.assertEqual(session.recv(1), b"x")
        srv.signal(signal.SIGTERM)
        stopping = self.receive(s)
        self.assertEqual(stopping.get("STOPPING"), "1", stopping)
        self.assertEqual(stopping.get("STATUS"), "stopping: draining 1 session(s)")
        session.close()
        self.assertEqual(srv.wait_exit(), 0)

    def test_nothing_is_sent_where_nothing_asked(self):
        # Without NOTIFY_SOCKET the server runs as ever; with one that does
        # not exist, it does not fail either.
        srv = Server("--port", "0", "--bind", "127.0.0.1", env={"NOTIFY_SOCKET": "/nonexistent/notify"})
        self.addCleanup(srv.close)
        self.assertEqual(tcp_echo(srv.port, b"still fine"), b"still fine")
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    unittest.main()
