"""Shared helpers for the script tests: start the real binaries on OS-chosen
ports, wait for them with bounds, and always clean up what was started."""

import json
import os
import re
import select
import signal
import socket
import subprocess
import time
import unittest

SERVER = os.environ.get("ECHO_SERVER", "echo-server")
CLIENT = os.environ.get("ECHO_CLIENT", "echo-client")
# Sanitizer builds are several times slower: stretch waits, not assertions.
SLOW = 4 if os.environ.get("ECHO_SANITIZER") else 1
LISTENING = re.compile(r"listening (tcp|udp) (?:\[(?P<v6>[^\]]+)\]|(?P<v4>[0-9.]+)):(?P<port>\d+)")


def deadline(seconds):
    return time.monotonic() + seconds * SLOW


class Server:
    """echo-server as a child process; stderr is collected line by line."""

    def __init__(self, *args, env=None, preexec_fn=None, wait_listening=True, wrapper=()):
        """`wrapper` runs the server through another command, which gets
        the server's arguments after its own (and must exec the server)."""
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.args = [*wrapper, *args] if wrapper else [SERVER, *args]
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=full_env, preexec_fn=preexec_fn)
        self.lines = []
        self._partial = b""
        self.tcp_port = self.udp_port = None
        if wait_listening:
            self.wait_for(lambda: self._listening_complete(args), 15)

    def _listening_complete(self, args):
        for line in self.lines:
            m = LISTENING.search(line)
            if m:
                port = int(m.group("port"))
                if m.group(1) == "tcp":
                    self.tcp_port = port
                else:
                    self.udp_port = port
        want_tcp = "--udp" not in args or "--tcp" in args
        want_udp = "--tcp" not in args or "--udp" in args
        return (self.tcp_port or not want_tcp) and (self.udp_port or not want_udp)

    @property
    def port(self):
        return self.tcp_port or self.udp_port

    def pump(self, timeout=0.05):
        """Reads whatever stderr has without blocking longer than `timeout`."""
        ready, _, _ = select.select([self.proc.stderr], [], [], timeout)
        if not ready:
            return False
        chunk = os.read(self.proc.stderr.fileno(), 65536)
        if not chunk:
            return False
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        self.lines.extend(line.decode("utf-8", "replace") for line in complete)
        return True

    def wait_for(self, condition, seconds, what="condition"):
        end = deadline(seconds)
        while time.monotonic() < end:
            if condition():
                return
            if self.proc.poll() is not None and not self.pump(0):
                raise AssertionError(f"server exited ({self.proc.returncode}) while waiting for {what}:\n"
                                     + "\n".join(self.lines))
            self.pump(0.05)
        raise AssertionError(f"timed out waiting for {what}; log:\n" + "\n".join(self.lines[-40:]))

    def assert_no_log(self, pattern, seconds):
        """Fails if a line matching `pattern` appears within `seconds`."""
        regex = re.compile(pattern)
        end = deadline(seconds)
        while time.monotonic() < end:
            self.pump(0.05)
            found = [line for line in self.lines if regex.search(line)]
            if found:
                raise AssertionError(f"unexpected log line: {found[0]}")

    def wait_log(self, pattern, seconds=10):
        regex = re.compile(pattern)
        self.wait_for(lambda: any(regex.search(line) for line in self.lines), seconds, repr(pattern))
        return next(line for line in self.lines if regex.search(line))

    # What the server logs when it gets each signal it acts on.
    RECEIVED = {
        signal.SIGTERM: r"signal %d( \([A-Z]+\))? received" % signal.SIGTERM,
        signal.SIGINT: r"signal %d( \([A-Z]+\))? received" % signal.SIGINT,
        signal.SIGHUP: r"SIGHUP received|TLS certificate reloaded|TLS reload failed",
    }

    def signal(self, signo):
        self.proc.send_signal(signo)
        if signo in self.RECEIVED and os.environ.get("ECHO_SANITIZER") == "thread":
            self._resend_if_lost(signo)

    def stop(self, seconds=15):
        """SIGTERM, then wait for the exit code; collects the rest of the log."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait_exit(seconds)

    def _resend_if_lost(self, signo):
        """ThreadSanitizer defers a signal's handler to the thread's next
        intercepted call; one that lands just as the thread enters epoll_wait
        with no timeout can stay pending for good (google/sanitizers#1179,
        llvm-project#83561 describe the family). Seen here about once in 30
        SIGTERMs sent right after start-up, and as often as one SIGHUP in
        three, never without TSan. So under TSan only, when the server logs
        at info and has not said it received the signal within 5 s, the
        signal is sent again: unreceived, it is still the first one."""
        if not any("configuration:" in line for line in self.lines):
            return  # not logging at info: nothing to tell a lost signal by
        received = re.compile(self.RECEIVED[signo])

        def times_received():
            return sum(1 for line in self.lines if received.search(line))

        before = times_received()
        end = time.monotonic() + 5
        while self.proc.poll() is None and time.monotonic() < end:
            if times_received() > before:
                return
            self.pump(0.05)
        if self.proc.poll() is None and times_received() == before:
            self.proc.send_signal(signo)  # once: a server that still does not react fails its test

    def wait_exit(self, seconds=15):
        end = deadline(seconds)
        while self.proc.poll() is None and time.monotonic() < end:
            self.pump(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("server did not exit in time; log:\n" + "\n".join(self.lines[-40:]))
        while self.pump(0):
            pass
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def stop_process(proc, seconds=10):
    """SIGTERM a daemon the test started (Prometheus, a balancer), SIGKILL
    if it is still there after `seconds`; reaps it either way."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run(args, input=None, timeout=30, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(args, input=input, capture_output=True, timeout=timeout * SLOW, env=full_env)


def tcp_echo(port, data, host="127.0.0.1", timeout=10):
    """Sends `data`, half-closes, returns everything read until EOF."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout * SLOW)
        s.connect((host, port))
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = bytearray()
        while chunk := s.recv(65536):
            out += chunk
        return bytes(out)


def udp_echo(port, data, host="127.0.0.1", timeout=5, source_port=0, sock=None):
    """Sends one datagram and returns the reply (socket.timeout when none).
    From `sock` when given, else from a new socket on `source_port`."""
    if sock is not None:
        sock.settimeout(timeout * SLOW)
        sock.sendto(data, (host, port))
        return sock.recvfrom(65536)[0]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout * SLOW)
        if source_port:
            s.bind((host, source_port))
        s.sendto(data, (host, port))
        return s.recvfrom(65536)[0]


def json_lines(lines):
    return [json.loads(line) for line in lines if line.strip()]


def free_port(host):
    """A port free for both TCP and UDP on `host` a moment ago. Daemons such
    as socat, ncat and Prometheus cannot take port 0 and say which port they
    got, so this is the one place a test picks a port itself; a clash shows
    as a failed start."""
    # Checked on the wildcard address of the family: a daemon that binds all
    # addresses (`bind :PORT`) also clashes with this machine's own
    # connections on other addresses, which a check on loopback alone misses.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as t, socket.socket(family, socket.SOCK_DGRAM) as u:
            t.bind((wildcard, 0))
            port = t.getsockname()[1]
            try:
                u.bind((wildcard, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both TCP and UDP")


def closed_port(test, kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port where nothing answers, held for the whole test so that no other
    process can take it meanwhile: TCP, bound but not listening (a connect is
    refused); UDP, bound and connected to itself (datagrams from anyone else
    find no socket, so the sender gets ICMP port unreachable)."""
    s = socket.socket(socket.AF_INET, kind)
    test.addCleanup(s.close)
    s.bind((host, 0))
    if kind == socket.SOCK_DGRAM:
        s.connect(s.getsockname())
    return s.getsockname()[1]


def bound_udp_socket(test, host="127.0.0.1"):
    """A UDP socket on an OS-chosen port, closed when the test ends."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    test.addCleanup(s.close)
    s.bind((host, 0))
    return s


def needs_root(reason):
    return unittest.skipUnless(os.geteuid() == 0, f"needs root: {reason}")


class EchoTestCase(unittest.TestCase):
    def server(self, *args, **kwargs):
        srv = Server(*args, **kwargs)
        self.addCleanup(srv.close)
        return srv

    def assert_stays_open(self, sock, seconds):
        """Waits up to `seconds` for the server to close `sock` and fails if it
        does: a wait that ends early on the event it guards against."""
        sock.settimeout(seconds * SLOW)
        try:
            data = sock.recv(1)
        except socket.timeout:
            return
        self.fail(f"the server closed the connection (read {data!r})")


def counters(srv):
    """The counters of the server's shutdown summary (`stopped: k=v ...`)."""
    line = next(line for line in reversed(srv.lines) if "stopped:" in line)
    return {k: int(v) for k, v in (item.split("=") for item in line.split("stopped:")[1].split())}


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def udp_burst(port, count, payload=None, host="127.0.0.1", source_port=0, pace=50, wait=1.0):
    """Sends `count` datagrams (a short pause every `pace` so the kernel's
    receive queue does not overflow), then collects replies until `wait`
    seconds pass without one. Returns the number of replies. Datagrams are
    numbered unless `payload` is given: the same payload back-to-back from
    one socket is what an echo loop looks like, and is damped as one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        if source_port:
            s.bind((host, source_port))
        replies = 0
        for i in range(count):
            s.sendto(payload if payload is not None else b"%d" % i, (host, port))
            if i % pace == pace - 1:
                time.sleep(0.001)
                replies += drain(s, 0)
        return replies + drain(s, wait * SLOW)


def drain(sock, wait):
    got = 0
    if wait:
        sock.settimeout(wait)
    else:
        sock.setblocking(False)
    try:
        while True:
            sock.recv(65536)
            got += 1
    except (BlockingIOError, socket.timeout):
        return got
