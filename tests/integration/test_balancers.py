"""The deploy/ recipes with real balancers: HAProxy and nginx (Debian
packages) in front of three real echo-servers speaking the PROXY protocol.
Each balancer runs in the foreground as the test's child, from the recipe's
own file with only its ports changed, on free ports, and is stopped by PID.
Runs in the release pass only (label `system`)."""

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
from echo_harness import SLOW, EchoTestCase, deadline, free_port, stop_process, tcp_echo, udp_echo  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class BalancerTestCase(EchoTestCase):
    def backends(self, *extra):
        servers = [self.server("--port", "0", "--bind", "127.0.0.1", "--proxy-protocol", "--proxy-trusted",
                               "127.0.0.1", "--udp-rate-limit", "0", "--log-level", "debug",
                               "--shutdown-timeout", "30", *extra)
                   for _ in range(3)]
        return servers

    def recipe(self, path, ports, front):
        """The recipe's text with its example ports replaced by real ones."""
        with open(os.path.join(ROOT, path)) as f:
            text = f.read()
        for example, real in zip((9101, 9102, 9103), ports):
            text = text.replace(f"127.0.0.1:{example}", f"127.0.0.1:{real}")
        return re.sub(r"(?<=[ :\]])9001\b", str(front), text)

    def configure(self, recipe, name, front_host):
        """Three backends, a free front port, and the recipe written with
        their ports into a temp directory: (backends, front, workdir, config)."""
        backends = self.backends()
        front = free_port(front_host)
        workdir = tempfile.mkdtemp(prefix=f"echo-{name}-")
        self.addCleanup(shutil.rmtree, workdir, True)
        config = os.path.join(workdir, os.path.basename(recipe))
        with open(config, "w") as f:
            f.write(self.recipe(recipe, [b.port for b in backends], front))
        return backends, front, workdir, config

    def start_daemon(self, argv, workdir):
        log = open(os.path.join(workdir, "daemon.log"), "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        self.addCleanup(stop_process, proc)
        self.daemon_log = log.name
        return proc

    def wait_echoing(self, port, proc, seconds=15):
        end = deadline(seconds)
        while True:
            self.assertIsNone(proc.poll(), self.read_log())
            try:
                if tcp_echo(port, b"up?", timeout=2) == b"up?":
                    return
            except OSError:
                pass
            self.assertLess(time.monotonic(), end, "the balancer never echoed: " + self.read_log())
            time.sleep(0.1)

    def read_log(self):
        with open(self.daemon_log, "rb") as f:
            return f.read().decode(errors="replace")[-2000:]

    def assert_clients_named(self, backends, port, count=30):
        """Connections through the balancer reach the backends, whose logs
        name each client by its own address and port."""
        client_ports = []
        for _ in range(count):
            with socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW) as s:
                client_ports.append(s.getsockname()[1])
                data = os.urandom(5000)
                s.sendall(data)
                got = b""
                while len(got) < len(data):
                    chunk = s.recv(65536)
                    self.assertTrue(chunk, "closed early")
                    got += chunk
                self.assertEqual(got, data)
        for p in client_ports:
            pattern = re.compile(r"session opened: peer 127\.0\.0\.1:%d via 127\.0\.0\.1:\d+ \(PROXY v" % p)
            end = deadline(10)
            while not any(pattern.search(line) for b in backends for line in b.lines):
                self.assertLess(time.monotonic(), end, f"no backend logged client port {p}")
                for b in backends:
                    b.pump(0.01)
        served = [sum(1 for line in b.lines if "(PROXY v" in line) for b in backends]
        self.assertTrue(all(n > 0 for n in served), f"not every backend got connections: {served}\n"
                        + "\n".join(backends[served.index(0)].lines[-15:]) if 0 in served else "")

    def assert_no_connection_lost_after_a_backend_dies(self, backends, port, seconds):
        backends[0].proc.send_signal(signal.SIGKILL)
        backends[0].proc.wait(5)
        time.sleep(seconds)  # let the balancer notice: its check interval, a bound of the recipe itself
        for i in range(50):
            data = b"after the failure %d" % i
            self.assertEqual(tcp_echo(port, data, timeout=5), data)


class HAProxy(BalancerTestCase):
    def test_recipe(self):
        self.assertTrue(shutil.which("haproxy"), "haproxy missing: scripts/deps balancers installs it")
        backends, front, workdir, config = self.configure("deploy/haproxy/haproxy.cfg", "haproxy", "127.0.0.1")
        out = subprocess.run(["haproxy", "-c", "-f", config], capture_output=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        proc = self.start_daemon(["haproxy", "-db", "-f", config], workdir)
        self.wait_echoing(front, proc)
        big = os.urandom(2 << 20)
        self.assertEqual(tcp_echo(front, big), big)
        self.assert_clients_named(backends, front)
        # The health checks arrive with a header (LOCAL or PROXY) and are echoed.
        for b in backends:
            b.wait_log(r"bytes_in=21 bytes_out=21")  # "haproxy-health-check\n"
        # Draining: a backend told to stop keeps its open session going
        # while HAProxy sends new connections elsewhere.
        self.assert_draining(backends, front)
        # inter 500ms, fall 2: down within about a second.
        self.assert_no_connection_lost_after_a_backend_dies(backends[1:], front, 2 * SLOW)

    def assert_draining(self, backends, front):
        session = socket.create_connection(("127.0.0.1", front), timeout=10 * SLOW)
        self.addCleanup(session.close)
        session.sendall(b"long-lived")
        self.assertEqual(session.recv(100), b"long-lived")
        port = session.getsockname()[1]
        pattern = re.compile(r"session opened: peer 127\.0\.0\.1:%d " % port)
        end = deadline(10)
        while not any(pattern.search(line) for b in backends for line in b.lines):
            self.assertLess(time.monotonic(), end, "no backend logged the long session")
            for b in backends:
                b.pump(0.01)
        draining = next(b for b in backends if any(pattern.search(line) for line in b.lines))
        draining.signal(signal.SIGTERM)
        draining.wait_log("stopping: no new connections")
        # No wait for the checks to notice: a connection HAProxy still sends to
        # the closed listener is refused and redispatched (`retries`, `option
        # redispatch`), so none of these fails either way.
        others_before = sum(1 for b in backends if b is not draining for line in b.lines if "(PROXY v" in line)
        for i in range(20):
            self.assertEqual(tcp_echo(front, b"new %d" % i, timeout=5), b"new %d" % i)
        for b in backends:
            b.pump(0.05)
        others_after = sum(1 for b in backends if b is not draining for line in b.lines if "(PROXY v" in line)
        self.assertGreaterEqual(others_after - others_before, 20)
        session.sendall(b"still served while draining")
        self.assertEqual(session.recv(100), b"still served while draining")
        session.close()
        self.assertEqual(draining.wait_exit(), 0)
        backends.remove(draining)
        backends.insert(0, draining)  # the dead one first, for the failure check that follows


class Nginx(BalancerTestCase):
    def test_recipe(self):
        self.assertTrue(shutil.which("nginx") and os.path.exists("/usr/lib/nginx/modules/ngx_stream_module.so"),
                        "nginx with its stream module missing: scripts/deps balancers installs them")
        backends, front, workdir, config = self.configure("deploy/nginx/nginx.conf", "nginx", "::")
        out = subprocess.run(["nginx", "-t", "-c", config, "-p", workdir], capture_output=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        proc = self.start_daemon(["nginx", "-c", config, "-p", workdir, "-g", "daemon off;"], workdir)
        self.wait_echoing(front, proc)
        big = os.urandom(2 << 20)
        for host in ("127.0.0.1", "::1"):
            self.assertEqual(tcp_echo(front, big, host=host), big)
            for size in (0, 1, 1000, 8000):
                data = os.urandom(size)
                self.assertEqual(udp_echo(front, data, host=host), data)
        self.assert_clients_named(backends, front)
        # Passive checks: the first connection to the dead one is retried on
        # another backend, so none is lost even at once.
        self.assert_no_connection_lost_after_a_backend_dies(backends, front, 0)


if __name__ == "__main__":
    unittest.main()
