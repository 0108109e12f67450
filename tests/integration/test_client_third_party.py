"""echo-client against echo servers that are not ours, the way a new user
meets them: socat, ncat (`-l -k -e /bin/cat`) and a Python asyncio server,
over IPv4 and IPv6. Each is a child of the test in its own process group,
on a free port, and is stopped with everything it forked."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import CLIENT, SLOW, deadline, free_port, run  # noqa: E402

HOSTS = ("127.0.0.1", "::1")

ASYNCIO_SERVER = textwrap.dedent("""
    import asyncio, sys

    class Udp(asyncio.DatagramProtocol):
        def connection_made(self, transport):
            self.transport = transport
        def datagram_received(self, data, peer):
            self.transport.sendto(data, peer)

    async def tcp(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def main(host, port):
        await asyncio.get_running_loop().create_datagram_endpoint(Udp, local_addr=(host, port))
        server = await asyncio.start_server(tcp, host, port)
        async with server:
            await server.serve_forever()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
""")


def bracketed(host):
    return f"[{host}]" if ":" in host else host


def server_commands(host, port):
    """What each third-party server is started with."""
    v6 = ":" in host
    return {
        "socat": [["socat", f"TCP{'6' if v6 else '4'}-LISTEN:{port},bind={bracketed(host)},reuseaddr,fork", "PIPE"],
                  ["socat", f"UDP{'6' if v6 else '4'}-LISTEN:{port},bind={bracketed(host)},fork", "PIPE"]],
        "ncat": [["ncat", "-6" if v6 else "-4", "-l", "-k", "-e", "/bin/cat", host, str(port)]],
        "asyncio": [[sys.executable, "-c", ASYNCIO_SERVER, host, str(port)]],
    }


class ThirdPartyServers(unittest.TestCase):
    def start(self, name, host):
        port = free_port(host)
        for argv in server_commands(host, port)[name]:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            self.addCleanup(self.stop, proc)
        self.wait_listening(host, port, proc)
        return port

    @staticmethod
    def stop(proc):
        """Stops the daemon and whatever it forked for its clients."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)

    def wait_listening(self, host, port, proc):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        end = deadline(10)
        while time.monotonic() < end:
            self.assertIsNone(proc.poll(), f"the server on port {port} exited")
            with socket.socket(family, socket.SOCK_STREAM) as s:
                if s.connect_ex((host, port)) == 0:
                    return
            time.sleep(0.02)
        self.fail(f"nothing listening on {host} port {port}")

    def client(self, host, port, *args, input=b""):
        return run([CLIENT, host, str(port), "--timeout", "3", *args], input=input, timeout=60 * SLOW)

    def random_file(self, size):
        f = tempfile.NamedTemporaryFile(prefix="echo-client-", delete=False)
        self.addCleanup(os.remove, f.name)
        f.write(os.urandom(size))
        f.close()
        return f.name

    def pipe(self, host, port, path, *args):
        with open(path, "rb") as f:
            return subprocess.run([CLIENT, host, str(port), "--timeout", "3", *args], stdin=f, capture_output=True,
                                  timeout=60 * SLOW)

    def test_message_pipe_and_udp_against_socat_and_asyncio(self):
        path = self.random_file(1 << 20)
        for name in ("socat", "asyncio"):
            for host in HOSTS:
                with self.subTest(server=name, host=host):
                    port = self.start(name, host)
                    out = self.client(host, port, "-m", "hello", "--check")
                    self.assertEqual((out.returncode, out.stdout), (0, b"hello\n"), out.stderr)
                    out = self.pipe(host, port, path)
                    self.assertEqual(out.returncode, 0, out.stderr)
                    self.assert_same(out.stdout, path)
                    out = self.client(host, port, "--udp", "-m", "hello", "--check")
                    self.assertEqual((out.returncode, out.stdout), (0, b"hello\n"), out.stderr)
                    out = self.client(host, port, "--udp", input=b"one\ntwo\nthree\n")
                    self.assertEqual((out.returncode, out.stdout), (0, b"one\ntwo\nthree\n"), out.stderr)

    def test_ncat_exec_cat_needs_no_shutdown_and_says_why_without(self):
        # `ncat -e /bin/cat` closes the connection as soon as the client
        # half-closes, whatever cat still had to send back. And with more
        # than its pipes hold in flight it can stall for good: ncat blocks
        # writing to cat while cat blocks writing to ncat.
        small = self.random_file(32 << 10)  # fits in the pipes
        large = self.random_file(1 << 20)
        for host in HOSTS:
            with self.subTest(host=host):
                port = self.start("ncat", host)
                # Whether cat answers before ncat closes is a race of ncat's:
                # either the echo came back whole, or the client says it did not.
                out = self.client(host, port, "-m", "hello", "--check")
                if out.returncode == 0:
                    self.assertEqual(out.stdout, b"hello\n")
                else:
                    self.assertEqual(out.returncode, 1, out.stderr)
                    self.assertIn(b"connection closed after 0 of 5 bytes", out.stderr)
                out = self.client(host, port, "-m", "hello", "--check", "--no-shutdown")
                self.assertEqual((out.returncode, out.stdout), (0, b"hello\n"), out.stderr)

                out = self.pipe(host, port, small, "--no-shutdown")
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assert_same(out.stdout, small)
                for path, args in ((small, ()), (large, ()), (large, ("--no-shutdown",))):
                    started = time.monotonic()
                    out = self.pipe(host, port, path, *args)
                    self.assertLess(time.monotonic() - started, 20 * SLOW)
                    if out.returncode == 0:  # it went through this time: then all of it came back
                        self.assert_same(out.stdout, path)
                    else:
                        self.assertEqual(out.returncode, 1, out.stderr)
                        self.assertRegex(out.stderr, rb"echo short|before the input ended|echo stopped")
                        self.assert_prefix(out.stdout, path)

    def assert_same(self, got, path):
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(got == data, f"{len(got)} of {len(data)} bytes back, or different ones")

    def assert_prefix(self, got, path):
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(got), "what was written is not a prefix of the input")

if __name__ == "__main__":
    unittest.main()
