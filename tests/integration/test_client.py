"""echo-client as a user meets it: each mode over TCP and UDP, IPv4 and
IPv6, against echo-server and against peers that misbehave."""

import json
import math
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import CLIENT, SLOW, EchoTestCase, closed_port, counters, deadline, needs_root, run  # noqa: E402
from fake_servers import (CloseOnHalfCloseServer, CorruptingTcpServer, DoublingTcpServer, DrippingTcpServer,  # noqa: E402
                          DroppingUdpServer, FloodingTcpServer, FullBacklogServer, LateUdpServer, PrefixingTcpServer,
                          PrefixingUdpServer, ResettingTcpServer, SilentTcpServer, SilentUdpSocket,
                          StallingTcpServer, SwallowingTcpServer)

HOSTS = ("127.0.0.1", "::1", "localhost")


class ClientTestCase(EchoTestCase):
    @classmethod
    def setUpClass(cls):
        from echo_harness import Server
        cls.srv = Server("--port", "0", "--udp-rate-limit", "0")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.close()

    def client(self, *args, input=b"", timeout=30):
        return run([CLIENT, "-p", str(self.srv.port), *args], input=input, timeout=timeout)

    def fake(self, server):
        self.addCleanup(server.close)
        return server


class MessageMode(ClientTestCase):
    def test_tcp_and_udp_on_every_address(self):
        for proto in ("--tcp", "--udp"):
            for host in HOSTS:
                with self.subTest(proto=proto, host=host):
                    out = self.client(proto, host, "-m", f"hi {host}", "--check")
                    self.assertEqual(out.returncode, 0, out.stderr)
                    self.assertEqual(out.stdout, f"hi {host}\n".encode())
                    self.assertEqual(out.stderr, b"")

    def test_refused_port(self):
        port = closed_port(self)
        out = run([CLIENT, "-p", str(port), "127.0.0.1", "-m", "x"])
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"refused", out.stderr)
        self.assertIn(str(port).encode(), out.stderr)
        self.assertEqual(len(out.stderr.strip().splitlines()), 1)

    def test_silent_tcp_server_times_out(self):
        silent = self.fake(SilentTcpServer())
        started = time.monotonic()
        out = run([CLIENT, "127.0.0.1", "-p", str(silent.port), "-m", "anyone?", "--timeout", "1"])
        elapsed = time.monotonic() - started
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"no complete reply within 1", out.stderr)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 5 * SLOW)

    def test_udp_nobody_replying_fails_check(self):
        silent = self.fake(SilentUdpSocket())
        out = run([CLIENT, "--udp", "127.0.0.1", "-p", str(silent.port), "-m", "hello", "--check",
                   "--timeout", "0.5"])
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"no reply within", out.stderr)

    def test_udp_closed_port_fails_fast(self):
        out = run([CLIENT, "--udp", "127.0.0.1", "-p", str(closed_port(self, socket.SOCK_DGRAM)), "-m", "x", "--timeout", "30"],
                  timeout=10)
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"refused", out.stderr)

    def test_changed_data_fails_check_but_plain_m_prints_it(self):
        for server, proto in ((PrefixingTcpServer(), "--tcp"), (PrefixingUdpServer(), "--udp")):
            self.fake(server)
            with self.subTest(proto=proto):
                args = [CLIENT, proto, "127.0.0.1", "-p", str(server.port), "-m", "hello", "--timeout", "2"]
                plain = run(args)
                self.assertEqual(plain.returncode, 0, plain.stderr)
                self.assertEqual(plain.stdout, b"echo: hello\n")
                checked = run(args + ["--check"])
                self.assertEqual(checked.returncode, 1)
                self.assertIn(b"differs", checked.stderr)

    def test_usage_errors_exit_2(self):
        for args, name in ((["--check"], b"--check"), (["--tcp", "--udp"], b"--udp"),
                           (["-p", "99999"], b"--port"), (["--wat"], b"--wat")):
            out = run([CLIENT, *args])
            self.assertEqual(out.returncode, 2, args)
            self.assertIn(name, out.stderr)


class PipeMode(ClientTestCase):
    def test_one_mebibyte_of_random_bytes_comes_back_identical(self):
        data = os.urandom(1 << 20)
        for host in ("127.0.0.1", "::1"):
            with self.subTest(host=host):
                out = self.client(host, input=data)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(out.stdout, data)

    def test_large_input_from_a_pipe_does_not_deadlock(self):
        # 20 MiB is far more than the socket buffers hold: only reading and
        # writing at the same time gets it through.
        data = os.urandom(20 << 20)
        producer = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        client = subprocess.Popen([CLIENT, "-p", str(self.srv.port)], stdin=producer.stdout,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        producer.stdout.close()
        import threading
        feeder = threading.Thread(target=lambda: (producer.stdin.write(data), producer.stdin.close()))
        feeder.start()
        out, err = client.communicate(timeout=60 * SLOW)
        feeder.join(10)
        producer.wait(10)
        self.assertEqual(client.returncode, 0, err)
        self.assertEqual(len(out), len(data))
        self.assertEqual(out, data)

    def test_udp_lines_each_a_datagram(self):
        for host in ("127.0.0.1", "::1"):
            with self.subTest(host=host):
                out = self.client("--udp", host, input=b"first\nsecond\n\nlast-without-newline")
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(out.stdout, b"first\nsecond\n\nlast-without-newline\n")

    def test_udp_missing_reply_is_reported(self):
        silent = self.fake(SilentUdpSocket())
        out = run([CLIENT, "--udp", "127.0.0.1", "-p", str(silent.port), "--timeout", "0.3"], input=b"a\nb\n")
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stderr.count(b"no reply within"), 2)

    def test_udp_pipe_lost_replies_cost_one_timeout_not_one_each(self):
        # Every 5th datagram is swallowed: 10 of 50 lines get no reply. The
        # lines go on meanwhile, so the losses cost about one timeout in all
        # (before: one each, 10 s).
        lossy = self.fake(DroppingUdpServer(nth=5))
        lines = [b"line %d" % i for i in range(50)]
        started = time.monotonic()
        out = run([CLIENT, "--udp", "127.0.0.1", "-p", str(lossy.port), "--timeout", "1"],
                  input=b"\n".join(lines) + b"\n")
        elapsed = time.monotonic() - started
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertEqual(out.stderr.count(b"no reply within"), 10, out.stderr)
        answered = [line for i, line in enumerate(lines) if (i + 1) % 5]
        self.assertEqual(out.stdout, b"".join(line + b"\n" for line in answered))
        self.assertLess(elapsed, 3.0 * SLOW, f"{elapsed:.1f} s")

    def test_tcp_silent_server_reported_after_input_ends(self):
        silent = self.fake(SilentTcpServer())
        out = run([CLIENT, "127.0.0.1", "-p", str(silent.port), "--timeout", "0.5"], input=b"x" * 100)
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"echo stopped", out.stderr)

    def test_empty_input(self):
        out = self.client(input=b"")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"")

    def test_input_from_dev_null_and_a_file(self):
        with open(os.devnull, "rb") as null:
            out = subprocess.run([CLIENT, "-p", str(self.srv.port)], stdin=null, capture_output=True, timeout=30)
        self.assertEqual((out.returncode, out.stdout), (0, b""), out.stderr)
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"echo-client-input-{os.getpid()}")
        self.addCleanup(os.remove, path)
        with open(path, "wb") as f:
            f.write(b"from a file\n" * 1000)
        with open(path, "rb") as f:
            out = subprocess.run([CLIENT, "-p", str(self.srv.port)], stdin=f, capture_output=True, timeout=30)
        self.assertEqual(out.stdout, b"from a file\n" * 1000)


@needs_root("mounts another /etc/hosts in a private mount namespace")
class LocalhostWithoutResolver(ClientTestCase):
    """localhost is 127.0.0.1 and ::1 whatever /etc/hosts says (RFC 6761)."""

    def with_hosts_file(self, content, *client_args):
        fd, hosts = tempfile.mkstemp(prefix="echo-client-hosts-")
        with os.fdopen(fd, "w") as f:
            f.write(content)
        self.addCleanup(os.remove, hosts)
        script = f'mount --bind "{hosts}" /etc/hosts && exec "$@"'
        out = run(["unshare", "--mount", "sh", "-c", script, "sh", CLIENT, *client_args])
        if b"cannot change root filesystem propagation" not in out.stderr:
            return out
        # A chroot whose root is not a mount point: unshare cannot make the
        # new namespace's mounts private. With propagation unchanged, the
        # bind may show in the namespace it came from as well, so it is
        # undone there too (an unmount propagates like the mount) before
        # the shell ends, whatever the client did.
        script = f'mount --bind "{hosts}" /etc/hosts || exit 125; "$@"; rc=$?; umount /etc/hosts; exit $rc'
        return run(["unshare", "--mount", "--propagation", "unchanged", "sh", "-c", script, "sh", CLIENT,
                    *client_args])

    def test_no_hosts_entry_at_all(self):
        out = self.with_hosts_file("", "-p", str(self.srv.port), "-m", "hi", "--check")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"hi\n")

    def test_server_on_ipv6_only_while_hosts_lists_ipv4_only(self):
        from echo_harness import Server
        v6 = Server("--port", "0", "--bind", "::1")
        self.addCleanup(v6.close)
        for proto in ("--tcp", "--udp"):
            with self.subTest(proto=proto):
                out = self.with_hosts_file("127.0.0.1 localhost\n", proto, "-p", str(v6.port), "-m", "hi",
                                           "--check", "--timeout", "2")
                self.assertEqual(out.returncode, 0, out.stderr)
        out = self.with_hosts_file("", "sub.localhost", str(v6.port), "-m", "hi", "--check")
        self.assertEqual(out.returncode, 0, out.stderr)


class NcStyleArguments(ClientTestCase):
    def test_closed_stdin_sends_nothing_and_ends(self):
        # `echo-client <&-`: descriptor 0 must not become one of its own
        # sockets (it used to send 8 bytes of an internal counter and hang).
        started = time.monotonic()
        out = run(["sh", "-c", f'exec "{CLIENT}" 127.0.0.1 -p {self.srv.port} --timeout 2 <&-'], timeout=20)
        self.assertLess(time.monotonic() - started, 10 * SLOW)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"")

    def test_address_family_and_verbose(self):
        from echo_harness import Server
        v6 = Server("--port", "0", "--bind", "::1")
        self.addCleanup(v6.close)
        out = run([CLIENT, "-6", "localhost", str(v6.port), "-m", "six", "--check", "-v"])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(b"connected to [::1]", out.stderr)  # -v says where
        out = run([CLIENT, "-4", "localhost", str(v6.port), "-m", "four", "--timeout", "2"])
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(b"refused", out.stderr)
        out = run([CLIENT, "-6", "127.0.0.1", str(v6.port), "-m", "x"])
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"no IPv6 address", out.stderr)

    def test_host_then_port(self):
        for host in ("127.0.0.1", "::1", "localhost"):
            with self.subTest(host=host):
                out = run([CLIENT, host, str(self.srv.port), "-m", "nc style", "--check"])
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(out.stdout, b"nc style\n")

    def test_host_colon_port_and_bracketed_ipv6(self):
        port = self.srv.port
        for word in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            with self.subTest(word=word):
                out = run([CLIENT, word, "-m", "joined", "--check"])
                self.assertEqual((out.returncode, out.stdout), (0, b"joined\n"), out.stderr)
        out = run([CLIENT, "[::1]", str(port), "-m", "brackets", "--check"])
        self.assertEqual(out.returncode, 0, out.stderr)
        out = run([CLIENT, "::1", "-p", str(port), "-m", "bare v6", "--check"])  # no port in it: all colons are the address's
        self.assertEqual(out.returncode, 0, out.stderr)
        out = run([CLIENT, f"127.0.0.1:{port}", str(port), "-m", "x"])
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"the port is given twice", out.stderr)

    def test_u_w_and_z_as_nc_has_them(self):
        port = str(self.srv.port)
        out = run([CLIENT, "-u", "127.0.0.1", port, "-w", "2", "-m", "over udp", "--check"])
        self.assertEqual((out.returncode, out.stdout), (0, b"over udp\n"), out.stderr)
        # -z: the port answers, nothing printed; over UDP, an empty datagram's echo is the answer.
        for proto in ([], ["-u"]):
            with self.subTest(proto=proto):
                out = run([CLIENT, *proto, "-z", "127.0.0.1", port])
                self.assertEqual((out.returncode, out.stdout, out.stderr), (0, b"", b""))
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        dead = str(closed.getsockname()[1])  # bound, not listening: refused
        self.addCleanup(closed.close)
        out = run([CLIENT, "-z", "127.0.0.1", dead, "-w", "2"])
        self.assertEqual((out.returncode, out.stdout), (1, b""), out.stderr)
        started = time.monotonic()
        out = run([CLIENT, "-u", "-z", "127.0.0.1", dead, "-w", "0.5"])
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertLess(time.monotonic() - started, 10 * SLOW)  # -w bounds the wait

    def test_nc_options_that_mean_something_else_say_what_to_use(self):
        for args, words in ((["-l", "9001"], b"to listen, run echo-server"),
                            (["-N", "127.0.0.1"], b"--no-shutdown"),
                            (["-q", "1", "127.0.0.1"], b"-w/--timeout"),
                            (["-p", "5000", "127.0.0.1", "9001"], b"-p is the server's port here")):
            with self.subTest(args=args):
                out = run([CLIENT, *args, "-m", "x"])
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertIn(words, out.stderr)
                self.assertEqual(out.stderr.count(b"\n"), 2, out.stderr)  # the error, and "Try 'echo-client --help'"


class TlsToAPortWithoutTls(ClientTestCase):
    """--tls against a port that does not speak TLS says so, and where TLS is."""

    def assert_says_no_tls(self, out, port):
        self.assertEqual(out.returncode, 1, out.stderr)
        err = out.stderr.decode()
        self.assertIn(f"the server does not speak TLS on port {port}", err)
        self.assertIn("--tls-port", err)

    def test_a_plain_echo_port_that_echoes_the_client_hello(self):
        port = self.srv.port
        self.assert_says_no_tls(self.client("--tls", "--insecure", "-m", "hi", "--timeout", "5"), port)
        self.assert_says_no_tls(self.client("--tls", "-m", "hi", "--timeout", "5"), port)

    def test_a_server_that_answers_with_text(self):
        fake = self.fake(PrefixingTcpServer(prefix=b"HTTP/1.1 400 Bad Request\r\n\r\n"))
        out = run([CLIENT, "127.0.0.1", str(fake.port), "--tls", "--insecure", "-m", "hi", "--timeout", "5"],
                  timeout=30)
        self.assert_says_no_tls(out, fake.port)


class MessageModeNoShutdown(ClientTestCase):
    def test_a_server_that_closes_on_half_close(self):
        server = self.fake(CloseOnHalfCloseServer())
        out = run([CLIENT, "127.0.0.1", str(server.port), "-m", "hi", "--check", "--timeout", "2"])
        self.assertEqual(out.returncode, 1, out.stderr)  # the half-close lost the echo
        self.assertIn(b"0 of 2 bytes", out.stderr)
        out = run([CLIENT, "127.0.0.1", str(server.port), "-m", "hi", "--check", "--timeout", "2", "--no-shutdown"])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b"hi\n")

    def test_only_for_tcp_message_and_pipe(self):
        for other in ("--udp", "--bench"):
            with self.subTest(other=other):
                out = run([CLIENT, "--no-shutdown", other])
                self.assertEqual(out.returncode, 2)
                self.assertIn(b"--no-shutdown is for -m and pipe mode over TCP, not " + other.encode(), out.stderr)

    def test_pipe_ends_when_everything_came_back(self):
        server = self.fake(CloseOnHalfCloseServer())
        data = os.urandom(3000)
        out = run([CLIENT, "127.0.0.1", str(server.port), "--timeout", "2"], input=data)
        self.assertEqual(out.returncode, 1, out.stderr)  # the half-close lost the echo
        self.assertIn(b"closed the connection with the echo short", out.stderr)
        out = run([CLIENT, "127.0.0.1", str(server.port), "--timeout", "2", "--no-shutdown"], input=data)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout == data)
        out = run([CLIENT, "127.0.0.1", str(server.port), "--timeout", "2", "--no-shutdown"], input=b"")
        self.assertEqual((out.returncode, out.stdout), (0, b""), out.stderr)


class MessageModeBounds(ClientTestCase):
    def test_a_server_that_never_stops_sending(self):
        server = self.fake(FloodingTcpServer())
        started = time.monotonic()
        out = run([CLIENT, "127.0.0.1", "-p", str(server.port), "-m", "hi", "--check", "--timeout", "2"], timeout=20)
        self.assertLess(time.monotonic() - started, 5 * SLOW)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(b"stopped reading", out.stderr)
        self.assertEqual(out.stdout, b"")

    def test_a_server_that_drips_after_the_echo(self):
        server = self.fake(DrippingTcpServer())
        for check in ((), ("--check",)):
            with self.subTest(check=check):
                started = time.monotonic()
                out = run([CLIENT, "127.0.0.1", "-p", str(server.port), "-m", "hi", "--timeout", "2", *check],
                          timeout=20)
                self.assertLess(time.monotonic() - started, 3 * SLOW, "the drip kept it alive")
                self.assertEqual(out.returncode, 1 if check else 0, out.stderr)
                self.assertTrue(out.stdout.startswith(b"hi"), out.stdout)


class PipeModeFailures(ClientTestCase):
    """Every way a pipe can go wrong ends the client with exit 1 and the real
    reason, within the timeout; none is reported as success."""

    def input_file(self, size):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"echo-client-big-{os.getpid()}-{size}")
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        self.addCleanup(os.remove, path)
        return path

    def run_piped(self, port, path, *args, through_pipe=False, timeout=30):
        """The client with `path` on stdin, directly or through cat."""
        started = time.monotonic()
        with open(path, "rb") as f:
            if through_pipe:
                cat = subprocess.Popen(["cat"], stdin=f, stdout=subprocess.PIPE)
                out = subprocess.run([CLIENT, "127.0.0.1", "-p", str(port), *args], stdin=cat.stdout,
                                     capture_output=True, timeout=timeout * SLOW)
                cat.stdout.close()
                cat.kill()
                cat.wait(5)
            else:
                out = subprocess.run([CLIENT, "127.0.0.1", "-p", str(port), *args], stdin=f,
                                     capture_output=True, timeout=timeout * SLOW)
        return out, time.monotonic() - started

    def test_reset_after_100_kb_of_20_mb(self):
        server = self.fake(ResettingTcpServer(limit=100_000))
        path = self.input_file(20 << 20)
        for through_pipe in (False, True):
            with self.subTest(through_pipe=through_pipe):
                out, _ = self.run_piped(server.port, path, "--timeout", "2", through_pipe=through_pipe)
                self.assertEqual(out.returncode, 1, out.stderr)
                self.assertRegex(out.stderr, rb"reset|Broken pipe|closed the connection")
                self.assertLessEqual(len(out.stdout), 100_000)

    def test_server_that_swallows_everything(self):
        server = self.fake(SwallowingTcpServer())
        out, _ = self.run_piped(server.port, self.input_file(1_000_000), "--timeout", "2")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(b"echo short", out.stderr)
        self.assertIn(b"0 of 1000000 bytes echoed", out.stderr)

    def test_echo_as_long_as_the_input_but_one_byte_changed(self):
        server = self.fake(CorruptingTcpServer(at=500_000))
        out, _ = self.run_piped(server.port, self.input_file(1_000_000), "--timeout", "2")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(b"the echo differs from the input at offset 500000", out.stderr)
        # What came back right is passed on; nothing from the wrong byte on.
        self.assertEqual(len(out.stdout), 500_000)

    def test_server_that_reads_on_but_stops_echoing(self):
        # The input is far larger than the client's window of bytes in flight:
        # the client must neither buffer it all nor wait for ever.
        server = self.fake(StallingTcpServer(limit=100_000))
        out, elapsed = self.run_piped(server.port, self.input_file(64 << 20), "--timeout", "1")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(b"the echo stopped for 1s while sending", out.stderr)
        self.assertEqual(len(out.stdout), 100_000)
        self.assertLess(elapsed, 10 * SLOW)

    def test_server_that_neither_reads_nor_answers(self):
        server = self.fake(SilentTcpServer())
        out, elapsed = self.run_piped(server.port, self.input_file(20 << 20), "--timeout", "1")
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(b"took no data", out.stderr)
        self.assertLess(elapsed, 10 * SLOW)

    def test_closed_stdout(self):
        path = self.input_file(20 << 20)
        started = time.monotonic()
        with open(path, "rb") as f:
            client = subprocess.Popen([CLIENT, "127.0.0.1", "-p", str(self.srv.port), "--timeout", "2"], stdin=f,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            head = client.stdout.read(10)
            client.stdout.close()  # like `| head -c 10`
            client.stdout = None
            try:
                _, err = client.communicate(timeout=30 * SLOW)
            finally:
                client.kill()
                client.wait(5)
        self.assertEqual(len(head), 10)
        self.assertEqual(client.returncode, 1, err)
        self.assertIn(b"cannot write the echo", err)
        self.assertLess(time.monotonic() - started, 30 * SLOW)

    def test_our_server_stopping_mid_pipe(self):
        from echo_harness import Server
        srv = Server("--tcp", "--port", "0", "--bind", "127.0.0.1", "--shutdown-timeout", "0.2")
        self.addCleanup(srv.close)
        # Input that keeps coming: the client is mid-pipe when the server stops.
        producer = subprocess.Popen(["sh", "-c", "while true; do echo tick; sleep 0.05; done"],
                                    stdout=subprocess.PIPE)
        self.addCleanup(producer.wait, 5)
        self.addCleanup(producer.kill)
        client = subprocess.Popen([CLIENT, "127.0.0.1", "-p", str(srv.port), "--timeout", "2"],
                                  stdin=producer.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        producer.stdout.close()
        self.assertEqual(client.stdout.read(5), b"tick\n")  # it is echoing
        self.assertEqual(srv.stop(), 0)
        try:
            _, err = client.communicate(timeout=10 * SLOW)
        finally:
            client.kill()
        self.assertEqual(client.returncode, 1, err)
        self.assertIn(b"closed the connection before the input ended", err)


class Interactive(ClientTestCase):
    def spawn(self, *args, port=None, stdout_path=None):
        pid, fd = pty.fork()
        if pid == 0:
            if stdout_path:
                os.dup2(os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
            os.execv(CLIENT, [CLIENT, "-p", str(port or self.srv.port), *args])
        self.addCleanup(self._reap, pid, fd)
        return pid, fd

    def _reap(self, pid, fd):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)

    def read_until(self, fd, needle, seconds=10):
        seen = b""
        end = deadline(seconds)
        while needle not in seen:
            remaining = end - time.monotonic()
            self.assertGreater(remaining, 0, f"no {needle!r} on the terminal; saw {seen!r}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        return seen

    def wait_exit(self, pid, seconds=10):
        end = deadline(seconds)
        while time.monotonic() < end:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
        self.fail("client did not leave")

    def test_prompt_echo_and_q(self):
        for proto in ("--tcp", "--udp"):
            for host in ("127.0.0.1", "::1"):
                with self.subTest(proto=proto, host=host):
                    pid, fd = self.spawn(proto, host)
                    self.read_until(fd, b"> ")
                    os.write(fd, b"hello there\n")
                    screen = self.read_until(fd, b"> ")
                    # The terminal shows the typed line, then the reply on its own line.
                    self.assertIn(b"hello there\r\nhello there\r\n", screen)
                    os.write(fd, b"q\n")
                    self.assertEqual(self.wait_exit(pid), 0)

    def test_a_server_that_closes_is_noticed_at_once(self):
        # Its idle timeout closes the session while the user is not typing.
        srv = self.server("--port", "0", "--bind", "127.0.0.1", "--tcp", "--idle-timeout", "1")
        pid, fd = self.spawn("127.0.0.1", port=srv.port)
        self.read_until(fd, b"> ")
        os.write(fd, b"hi\n")
        self.read_until(fd, b"hi\r\nhi\r\n")
        screen = self.read_until(fd, b"the server closed the connection", seconds=10)
        self.assertIn(f"tcp 127.0.0.1 port {srv.port}: the server closed the connection".encode(), screen)
        self.assertEqual(self.wait_exit(pid), 1)

    def test_stdout_carries_only_the_replies(self):
        # `echo-client > out`: the prompt belongs on the terminal, not in the file.
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"echo-client-out-{os.getpid()}")
        self.addCleanup(os.remove, path)
        pid, fd = self.spawn("127.0.0.1", stdout_path=path)
        self.read_until(fd, b"> ")
        os.write(fd, b"hello\n")
        self.read_until(fd, b"> ")
        os.write(fd, b"q\n")
        self.assertEqual(self.wait_exit(pid), 0)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"hello\n")

    def test_a_reply_without_end_of_line_is_bounded(self):
        flood = self.fake(FloodingTcpServer())
        pid, fd = self.spawn("127.0.0.1", "--timeout", "5", port=flood.port)
        self.read_until(fd, b"> ")
        os.write(fd, b"hi\n")
        self.assertEqual(self.wait_exit(pid, 10), 1)

    def test_bench_progress_line_is_ended_before_the_report(self):
        pid, fd = self.spawn("127.0.0.1", "--bench", "--duration", "1", "--connections", "100")
        screen = self.read_until(fd, b"mismatches  ", 20)
        self.assertEqual(self.wait_exit(pid, 20), 0)
        self.assertIn(b"[1s]", screen)  # a progress line was shown
        self.assertRegex(screen, rb"(\r\x1b\[K|\n)tcp, 100 connection", screen)

    def test_udp_lost_and_late_replies(self):
        # Every reply comes 1.5 s late against a 1 s timeout: each line is
        # reported lost, the session goes on, and no late echo is printed as
        # the answer to a later line.
        late = self.fake(LateUdpServer(delay=1.5))
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"echo-client-udp-out-{os.getpid()}")
        self.addCleanup(os.remove, path)
        pid, fd = self.spawn("--udp", "127.0.0.1", "--timeout", "1", port=late.port, stdout_path=path)
        screen = self.read_until(fd, b"> ")
        for line in (b"aaa", b"bbb", b"ccc"):
            os.write(fd, line + b"\n")
            seen = self.read_until(fd, b"lost", 10)
            if b"> " not in seen[seen.rfind(b"lost"):]:
                seen += self.read_until(fd, b"> ", 10)
            screen += seen
        time.sleep(1.6)  # let the last late echo arrive (what is being tested), then one more line
        os.write(fd, b"q\n")
        self.assertEqual(self.wait_exit(pid), 1)  # replies were lost
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"", screen)

    def test_quit_and_end_of_input_leave(self):
        pid, fd = self.spawn()
        self.read_until(fd, b"> ")
        os.write(fd, b"quit\n")
        self.assertEqual(self.wait_exit(pid), 0)
        pid, fd = self.spawn()
        self.read_until(fd, b"> ")
        os.write(fd, b"\x04")  # Ctrl-D: end of input
        self.assertEqual(self.wait_exit(pid), 0)


class Bench(ClientTestCase):
    def test_tcp_bench_verifies_and_reports_json(self):
        out = self.client("--bench", "--connections", "4", "--pipeline", "2", "--size", "300",
                          "--duration", "1", "--json", "--progress")
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        self.assertGreater(report["requests"], 100)
        self.assertEqual(report["mismatches"], 0)
        self.assertEqual(report["errors"], 0)
        self.assertAlmostEqual(report["mb_per_s"], report["req_per_s"] * 300 / 1e6, delta=report["mb_per_s"] * 0.05 + 0.01)
        for key in ("p50", "p90", "p99", "p99_9", "max"):
            self.assertGreater(report["latency_us"][key], 0)
        self.assertLessEqual(report["latency_us"]["p50"], report["latency_us"]["p99"])
        self.assertIn(b"req/s", out.stderr)  # progress lines, asked for: stderr is not a terminal

    def test_udp_bench_stalled_by_the_servers_rate_limit_fails_and_names_it(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1", "--udp")  # the default --udp-rate-limit
        out = run([CLIENT, "--udp", "127.0.0.1", "-p", str(srv.udp_port), "--bench", "--connections", "4",
                   "--duration", "1.5", "--timeout", "1", "--json"], timeout=60)
        report = json.loads(out.stdout)
        self.assertGreater(report["lost"], 0, report)
        self.assertEqual(out.returncode, 1, "most of the run stalled on lost datagrams, yet it exited 0")
        err = out.stderr.decode()
        self.assertIn(f"{report['lost']} of {report['lost'] + report['requests']} datagrams lost", err)
        self.assertIn("--udp-rate-limit", err)
        self.assertRegex(err, r"spent about \d+ % of the run waiting")
        # Without the limit, the same run loses nothing and passes.
        clean = self.client("--udp", "--bench", "--connections", "4", "--duration", "0.5", "--timeout", "1")
        self.assertEqual(clean.returncode, 0, clean.stderr)
        self.assertNotIn(b"datagrams lost", clean.stderr)

    def test_churn_opens_a_connection_per_request_from_every_source(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1", "--tcp")  # its own: its counters are checked
        sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        out = run([CLIENT, "127.0.0.1", "-p", str(srv.port), "--bench", "--churn", "--connections", "3",
                   "--duration", "1", "--json", *[arg for source in sources for arg in ("--source", source)]])
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        self.assertTrue(report["churn"])
        self.assertEqual((report["errors"], report["mismatches"]), (0, 0))
        self.assertGreater(report["requests"], 50)
        # Every request was a connection of its own: the server saw as many
        # sessions (and the probe that found it), each with one message.
        self.assertEqual(srv.stop(), 0)
        stats = counters(srv)
        self.assertEqual(stats["sessions_opened"], report["requests"] + 1)
        self.assertEqual(stats["tcp_bytes_in"], report["requests"] * 64)
        self.assertEqual(stats["sessions_failed"], 0)

    def test_udp_bench_text_report(self):
        out = self.client("--udp", "--bench", "--connections", "2", "--size", "512", "--duration", "1")
        self.assertEqual(out.returncode, 0, out.stderr)
        text = out.stdout.decode()
        for field in ("requests", "req/s", "MB/s", "p50", "p90", "p99", "p99.9", "max", "errors",
                      "mismatches", "lost"):
            self.assertIn(field, text)

    def test_rate_is_respected(self):
        out = self.client("--bench", "--connections", "2", "--rate", "200", "--duration", "1", "--json")
        report = json.loads(out.stdout)
        self.assertGreaterEqual(report["requests"], 150)
        self.assertLessEqual(report["requests"], 210)

    def test_paced_run_ends_on_time(self):
        # One message per connection is due at the start, the next only after
        # 10 s: the writers are asleep in pacing when the second is up, and the
        # end of the run must wake them, not wait for their next send.
        for proto in ("--tcp", "--udp"):
            with self.subTest(proto=proto):
                started = time.monotonic()
                out = self.client(proto, "127.0.0.1", "--bench", "--rate", "1", "--connections", "10",
                                  "--duration", "1", "--json")
                elapsed = time.monotonic() - started
                self.assertEqual(out.returncode, 0, out.stderr)
                report = json.loads(out.stdout)
                self.assertEqual(report["requests"], 10)
                self.assertEqual(report["errors"], 0)
                self.assertLess(elapsed, 4 * SLOW, "the run outlived its duration")

    def test_every_connection_has_a_connect_timeout(self):
        server = self.fake(FullBacklogServer())
        started = time.monotonic()
        out = run([CLIENT, "127.0.0.1", "-p", str(server.port), "--bench", "--connections", "5", "--duration", "1",
                   "--timeout", "2", "--json"], timeout=60)
        self.assertLess(time.monotonic() - started, 15 * SLOW)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertGreaterEqual(json.loads(out.stdout)["errors"], 3)

    def test_a_server_that_echoes_twice_does_not_freeze_it(self):
        server = self.fake(DoublingTcpServer())
        started = time.monotonic()
        out = run([CLIENT, "127.0.0.1", "-p", str(server.port), "--bench", "--duration", "1", "--timeout", "2",
                   "--json"], timeout=60)
        self.assertLess(time.monotonic() - started, 10 * SLOW)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertGreater(json.loads(out.stdout)["mismatches"], 0)

    def test_ctrl_c_prints_the_partial_report(self):
        client = subprocess.Popen([CLIENT, "127.0.0.1", "-p", str(self.srv.port), "--bench", "--duration", "60",
                                   "--json", "--progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(client.kill)
        started = time.monotonic()
        self.assertIn(b"[1s]", client.stderr.readline())  # running: the first progress line
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=15 * SLOW)
        self.assertLess(time.monotonic() - started, 20 * SLOW)
        self.assertEqual(client.returncode, 0, err)
        report = json.loads(out)
        self.assertGreater(report["requests"], 0)
        self.assertLess(report["seconds"], 30)

    def test_heavy_udp_loss_names_the_rate_limit(self):
        from echo_harness import Server
        limited = Server("--udp", "--port", "0", "--bind", "127.0.0.1", "--udp-rate-limit", "100")
        self.addCleanup(limited.close)
        out = run([CLIENT, "--udp", "127.0.0.1", str(limited.port), "--bench", "--connections", "4", "--duration",
                   "1", "--timeout", "0.2", "--pipeline", "8"], timeout=60)
        self.assertIn(b"lost", out.stdout)
        self.assertIn(b"--udp-rate-limit", out.stderr)

    def test_bench_detects_changed_bytes(self):
        server = self.fake(PrefixingTcpServer(prefix=b"!"))
        out = run([CLIENT, "127.0.0.1", "-p", str(server.port), "--bench", "--duration", "0.5", "--json",
                   "--timeout", "1"])
        self.assertEqual(out.returncode, 1)
        self.assertGreater(json.loads(out.stdout)["mismatches"], 0)

    def test_many_source_addresses(self):
        out = self.client("127.0.0.1", "--bench", "--connections", "6", "--source", "127.0.0.2",
                          "--source", "127.0.0.3", "--duration", "0.5", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["errors"], 0)


def histogram_quantile(buckets, q, maximum):
    """The q-quantile of [index, count] buckets as echo-client computes it:
    the upper edge of the bucket holding the ceil(q*N)-th sample (64
    sub-buckets per power of two), never above the largest sample."""
    total = sum(count for _, count in buckets)
    wanted = max(1, math.ceil(q * total))
    seen = 0
    for index, count in sorted(buckets):
        seen += count
        if seen >= wanted:
            if index < 64:
                return min(index, maximum)
            magnitude = index // 32 - 1
            sub = index - magnitude * 32
            return min(((sub + 1) << magnitude) - 1, maximum)
    return maximum


class Merge(ClientTestCase):
    def test_two_load_generators_at_once_merge_exactly(self):
        args = ["127.0.0.1", "-p", str(self.srv.port), "--bench", "--duration", "1", "--json"]
        first = subprocess.Popen([CLIENT, *args, "--connections", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        second = subprocess.run([CLIENT, *args, "--connections", "3"], capture_output=True, timeout=60)
        out, err = first.communicate(timeout=60)
        self.assertEqual((first.returncode, second.returncode), (0, 0), err + second.stderr)
        reports = [json.loads(out), json.loads(second.stdout)]
        paths = []
        for i, report in enumerate(reports):
            fd, path = tempfile.mkstemp(suffix=f"-{i}.json")
            with os.fdopen(fd, "w") as f:
                json.dump(report, f)
            self.addCleanup(os.remove, path)
            paths.append(path)
        merged = run([CLIENT, "--merge", *paths, "--json"])
        self.assertEqual(merged.returncode, 0, merged.stderr)
        m = json.loads(merged.stdout)
        for key in ("requests", "bytes", "errors", "mismatches", "connections", "connections_echoed"):
            self.assertEqual(m[key], reports[0][key] + reports[1][key], key)
        self.assertEqual(m["connections"], 8)
        self.assertEqual(m["seconds"], max(r["seconds"] for r in reports))
        pooled = reports[0]["histogram"]["buckets"] + reports[1]["histogram"]["buckets"]
        maximum = max(r["histogram"]["max"] for r in reports)
        self.assertEqual(m["histogram"]["max"], maximum)
        for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)):
            expected = histogram_quantile(pooled, q, maximum) / 1000
            self.assertAlmostEqual(m["latency_us"][key], expected, delta=expected / 32 + 0.001, msg=key)
            low, high = sorted(r["latency_us"][key] for r in reports)
            self.assertTrue(low - 0.001 <= m["latency_us"][key] <= high + 0.001, (key, low, m["latency_us"][key], high))
        text = run([CLIENT, "--merge", *paths])
        self.assertEqual(text.returncode, 0)
        self.assertIn(b"8 connection(s)", text.stdout)

    def test_reports_of_different_runs_or_not_reports_are_refused(self):
        base = ["127.0.0.1", "-p", str(self.srv.port), "--bench", "--duration", "0.3", "--json", "--connections", "2"]
        paths = []
        for size in ("64", "128"):
            out = run([CLIENT, *base, "--size", size], timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            fd, path = tempfile.mkstemp(suffix=".json")
            os.write(fd, out.stdout)
            os.close(fd)
            self.addCleanup(os.remove, path)
            paths.append(path)
        out = run([CLIENT, "--merge", *paths])
        self.assertEqual(out.returncode, 2)
        self.assertIn(f"cannot merge {paths[1]}: its --size is 128, {paths[0]}'s is 64".encode(), out.stderr)
        fd, junk = tempfile.mkstemp(suffix=".json")
        os.write(fd, b'{"protocol": "tcp"}')
        os.close(fd)
        self.addCleanup(os.remove, junk)
        out = run([CLIENT, "--merge", junk])
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"cannot merge", out.stderr)
        out = run([CLIENT, "--merge", "/nonexistent.json"])
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"cannot read it", out.stderr)


if __name__ == "__main__":
    unittest.main()
