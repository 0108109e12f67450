"""A UDP echo whose send fails is dropped, counted as
echo_udp_dropped_datagrams_total{reason="send_failed"}, and the endpoint goes
on. On loopback a reply cannot fail by itself; here the server runs in a
network namespace of its own, paused (SIGSTOP) while a datagram arrives from
an address that is then removed and made unreachable, so its reply meets
"No route to host"."""

import os
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import SERVER, SLOW, EchoTestCase, Server, counters, needs_root  # noqa: E402
from metrics_support import METRICS_LISTENING, parse, value  # noqa: E402

GONE = "10.77.0.2"

SEND_FROM_GONE = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.sendto(b"this reply will have no route", ("127.0.0.1", int(sys.argv[2])))
"""

ECHO_AND_SCRAPE = r"""
import socket, sys, urllib.request
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"still echoing", ("127.0.0.1", int(sys.argv[1])))
assert s.recv(100) == b"still echoing"
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/metrics", timeout=5).read().decode())
"""


@needs_root("creates a network namespace")
class UdpSendFailed(EchoTestCase):
    def setUp(self):
        if not (shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip")):
            self.skipTest("unshare, nsenter or ip missing")

    def in_namespace(self, srv, *argv):
        out = subprocess.run(["nsenter", f"--net=/proc/{srv.proc.pid}/ns/net", *argv], capture_output=True,
                             timeout=60 * SLOW)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout.decode()

    def test_a_reply_with_no_route_is_counted_and_the_endpoint_goes_on(self):
        setup = f'ip link set lo up && ip addr add {GONE}/32 dev lo && exec "{SERVER}" "$@"'
        srv = Server("--udp", "--bind", "0.0.0.0", "--port", "0", "--udp-rate-limit", "0", "--metrics", "127.0.0.1:0",
                     wrapper=["unshare", "--net", "sh", "-c", setup, "sh"])
        self.addCleanup(srv.close)
        metrics_port = METRICS_LISTENING.search(srv.wait_log(METRICS_LISTENING.pattern)).group("port")
        srv.signal(signal.SIGSTOP)
        try:
            self.in_namespace(srv, sys.executable, "-c", SEND_FROM_GONE, GONE, str(srv.udp_port))
            self.in_namespace(srv, "ip", "addr", "del", f"{GONE}/32", "dev", "lo")
            self.in_namespace(srv, "ip", "route", "add", "unreachable", f"{GONE}/32")
        finally:
            srv.signal(signal.SIGCONT)
        samples = parse(self.in_namespace(srv, sys.executable, "-c", ECHO_AND_SCRAPE, str(srv.udp_port), metrics_port))
        self.assertEqual(value(samples, "echo_udp_dropped_datagrams_total", reason="send_failed"), 1)
        self.assertEqual(value(samples, "echo_udp_received_datagrams_total"), 2)
        self.assertEqual(value(samples, "echo_udp_sent_datagrams_total"), 1)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(counters(srv)["dropped_send_failed"], 1)


if __name__ == "__main__":
    unittest.main()
