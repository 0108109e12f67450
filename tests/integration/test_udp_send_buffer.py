"""UDP echo when the server's send buffer is full: it waits for room
instead of dropping the echo. On loopback the kernel frees a datagram's
send-buffer charge as soon as it is sent, so the buffer never fills; here
the server runs in a network namespace of its own whose loopback has a slow
token-bucket queue (tc tbf), where its echoes wait, still charged to it."""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import SERVER, SLOW, EchoTestCase, Server, counters, needs_root  # noqa: E402

# Run inside the server's namespace: floods it with numbered datagrams, then
# counts the echoes (each checked) until none comes for a while.
FLOOD = r"""
import socket, struct, sys
port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 32, 16 << 20)  # SO_SNDBUFFORCE: the flood leaves at once
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: no echo is lost here
s.connect(("127.0.0.1", port))
for i in range(count):
    s.send(struct.pack("!Q", i) + bytes([i % 251]) * (size - 8))
s.settimeout(float(sys.argv[4]))
good = 0
try:
    while True:
        data = s.recv(65536)
        i = struct.unpack("!Q", data[:8])[0]
        good += data == struct.pack("!Q", i) + bytes([i % 251]) * (size - 8)
except socket.timeout:
    pass
print(good)
"""


def tbf_available():
    if not (shutil.which("unshare") and shutil.which("tc") and shutil.which("nsenter")):
        return False
    probe = subprocess.run(["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "tbf",
                            "rate", "1mbit", "burst", "4k", "limit", "1mb"], capture_output=True)
    return probe.returncode == 0


@needs_root("creates a network namespace and a queueing discipline")
class UdpSendBufferFull(EchoTestCase):
    def setUp(self):
        if not tbf_available():
            self.skipTest("no network namespaces or no tbf queueing discipline (sch_tbf) here")

    def test_echoes_wait_for_room_and_none_is_dropped(self):
        setup = ("ip link set lo up && "
                 "tc qdisc add dev lo root tbf rate 40mbit burst 16k limit 16mb && "
                 f'exec "{SERVER}" "$@"')
        srv = Server("--udp", "--bind", "127.0.0.1", "--port", "0", "--udp-rate-limit", "0",
                     wrapper=["unshare", "--net", "sh", "-c", setup, "sh"])
        self.addCleanup(srv.close)
        flood = subprocess.run(
            ["nsenter", f"--net=/proc/{srv.proc.pid}/ns/net", sys.executable, "-c", FLOOD,
             str(srv.udp_port), "3000", "1400", str(3 * SLOW)],
            capture_output=True, timeout=120 * SLOW)
        self.assertEqual(flood.returncode, 0, flood.stderr)
        echoed = int(flood.stdout)
        self.assertEqual(srv.stop(), 0)
        c = counters(srv)
        self.assertGreater(c["udp_send_waits"], 0, "the send buffer never filled: the test proves nothing")
        self.assertEqual(c["dropped_send_failed"], 0)
        # Every datagram the server took in went back out, and arrived whole.
        self.assertEqual(c["datagrams_out"], c["datagrams_in"])
        self.assertEqual(echoed, c["datagrams_out"])
        self.assertGreater(echoed, 0)


if __name__ == "__main__":
    unittest.main()
