"""What the UDP loop damper costs honest clients and loops, and what lost
replies cost echo-client's UDP pipe (docs/security.md, docs/client.md):

    python3 bench/udp_loop_damping.py SERVER CLIENT

SERVER and CLIENT are echo-server and echo-client binaries (run it with an
older pair to compare). The two-server loop needs root (a raw socket)."""
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
SERVER, CLIENT = sys.argv[1], sys.argv[2]
os.environ["ECHO_SERVER"], os.environ["ECHO_CLIENT"] = SERVER, CLIENT
from echo_harness import Server, counters  # noqa: E402
from fake_servers import DroppingUdpServer  # noqa: E402
from test_hostile_peers import EchoService  # noqa: E402

LOOSE = ("--udp", "--port", "0", "--bind", "127.0.0.1", "--udp-rate-limit", "0", "--udp-blocked-ports", "")


def poll(port, interval, count, timeout):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        got, due = 0, time.monotonic()
        for _ in range(count):
            s.sendto(b"ping", ("127.0.0.1", port))
            try:
                got += s.recv(100) == b"ping"
            except socket.timeout:
                pass
            due += interval
            time.sleep(max(0.0, due - time.monotonic()))
        return got


def on_schedule(port):
    """One datagram every X ms on a fixed schedule, replies counted."""
    res = {}
    def run(interval, count):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            got, due = 0, time.monotonic()
            for _ in range(count):
                s.sendto(b"ping", ("127.0.0.1", port))
                due += interval
                while True:
                    left = due - time.monotonic()
                    if left <= 0:
                        break
                    s.settimeout(left)
                    try:
                        got += s.recv(100) == b"ping"
                    except (socket.timeout, BlockingIOError):
                        pass
            s.settimeout(1.0)
            try:
                while True:
                    got += s.recv(100) == b"ping"
            except socket.timeout:
                pass
            res[interval] = (got, count)
    ts = [threading.Thread(target=run, args=a) for a in ((0.01, 300), (0.1, 40), (0.3, 16))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {f"{k*1000:.0f} ms": f"{v[0]} of {v[1]}" for k, v in sorted(res.items())}


srv = Server(*LOOSE)
print("on a fixed schedule:", on_schedule(srv.port))
srv.stop()
srv.close()

for args, label in ((LOOSE, "rate-limit 0"), (("--udp", "--port", "0", "--bind", "127.0.0.1"), "defaults")):
    srv = Server(*args)
    for interval, count in ((0.01, 300), (0.1, 40), (0.3, 16)):
        started = time.monotonic()
        got = poll(srv.port, interval, count, float(os.environ.get("POLL_TIMEOUT", "1.0")))
        print(f"[{label}] every {interval*1000:.0f} ms, each after the last answer: {got} of {count} answered ({time.monotonic()-started:.1f} s)")
    for n in (50,):
        started = time.monotonic()
        out = subprocess.run([CLIENT, "--udp", "127.0.0.1", "-p", str(srv.port)], input=b"ping\n" * n, capture_output=True, timeout=600)
        print(f"[{label}] yes ping | head -{n} | echo-client --udp: {out.stdout.count(b'ping')} of {n} in {time.monotonic()-started:.2f} s, exit {out.returncode}")
    srv.stop()
srv.close()

for delay in (0, 0.001, 0.004):
    srv = Server(*LOOSE)
    other = EchoService(delay, seconds=6)
    other.start()
    other.sock.sendto(b"spoofed once", ("127.0.0.1", srv.port))
    other.join(20)
    srv.stop()
    print(f"loop with a Python echo peer {delay*1000:.0f} ms away: lived {other.lifetime():.3f} s, {other.received} echoes reached the peer, dropped_loop={counters(srv)['dropped_loop']}")
    srv.close()

if os.geteuid() != 0:
    sys.exit("(the loop between two servers needs root: skipped)")
a = Server(*LOOSE)
b = Server("--udp", "--port", "0", "--bind", "127.0.0.2", "--udp-rate-limit", "0", "--udp-blocked-ports", "")
with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP) as raw:
    raw.bind(("127.0.0.2", 0))
    payload = b"spoofed from b"
    raw.sendto(struct.pack("!HHHH", b.port, a.port, 8 + len(payload), 0) + payload, ("127.0.0.1", a.port))
    started = time.monotonic()
end = time.monotonic() + 10
while time.monotonic() < end and not any("echo loop" in l for l in a.lines + b.lines):
    a.pump(0.01)
    b.pump(0.01)
seen = time.monotonic() - started
a.pump(1.0)  # let the last of the loop settle before counting
b.pump(0.1)
a.stop()
b.stop()
print(f"two echo-servers, one spoofed datagram: {counters(a)['datagrams_in'] + counters(b)['datagrams_in']} datagrams went round; loop warning after {seen:.2f} s")

lossy = DroppingUdpServer(nth=5)
lines = b"".join(b"line %d\n" % i for i in range(50))
for timeout in ("1", "5"):
    started = time.monotonic()
    out = subprocess.run([CLIENT, "--udp", "127.0.0.1", "-p", str(lossy.port), "--timeout", timeout], input=lines, capture_output=True, timeout=600)
    print(f"50 lines, every 5th reply dropped, --timeout {timeout}: {out.stdout.count(b'line')} replies, {out.stderr.count(b'no reply')} reported lost, {time.monotonic()-started:.2f} s, exit {out.returncode}")
lossy.close()
