"""Misbehaving peers for client tests, each on an OS-chosen loopback port,
served by a daemon thread and closed by the test's cleanup."""

import socket
import struct
import threading


class _Base:
    def __init__(self, kind, host):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, kind)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.held = []

    def close(self):
        self.stopped.set()
        for s in self.held:
            s.close()
        self.sock.close()


class _TcpServer(_Base):
    """Accepts connections on a thread and hands each to on_connection."""

    def __init__(self, host="127.0.0.1"):
        super().__init__(socket.SOCK_STREAM, host)
        self.sock.listen(16)
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.on_connection(conn)

    def on_connection(self, conn):
        pass


class _ThreadedTcpServer(_TcpServer):
    """Serves each connection on a thread of its own, in serve(conn)."""

    def on_connection(self, conn):
        threading.Thread(target=self._serve_quietly, args=(conn,), daemon=True).start()

    def _serve_quietly(self, conn):
        try:
            self.serve(conn)
        except OSError:
            pass


class SilentTcpServer(_TcpServer):
    """Accepts connections, never reads or answers."""


class PrefixingTcpServer(_ThreadedTcpServer):
    """An 'echo' that changes the data: every chunk comes back prefixed."""

    def __init__(self, prefix=b"echo: ", host="127.0.0.1"):
        self.prefix = prefix
        super().__init__(host)

    def serve(self, conn):
        while data := conn.recv(65536):
            conn.sendall(self.prefix + data)
        conn.shutdown(socket.SHUT_WR)


class ResettingTcpServer(_ThreadedTcpServer):
    """Echoes the first `limit` bytes, then resets the connection."""

    def __init__(self, limit=100_000, host="127.0.0.1"):
        self.limit = limit
        super().__init__(host)

    def serve(self, conn):
        echoed = 0
        while echoed < self.limit and (data := conn.recv(min(65536, self.limit - echoed))):
            conn.sendall(data)
            echoed += len(data)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


class CorruptingTcpServer(_ThreadedTcpServer):
    """Echoes every byte but one: the byte at offset `at` comes back changed,
    so the echo is exactly as long as the input and only its content is wrong."""

    def __init__(self, at=500_000, host="127.0.0.1"):
        self.at = at
        super().__init__(host)

    def serve(self, conn):
        offset = 0
        while data := conn.recv(65536):
            if offset <= self.at < offset + len(data):
                i = self.at - offset
                data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
            conn.sendall(data)
            offset += len(data)
        conn.shutdown(socket.SHUT_WR)


class StallingTcpServer(_ThreadedTcpServer):
    """Echoes the first `limit` bytes, then keeps reading and echoes no more."""

    def __init__(self, limit=100_000, host="127.0.0.1"):
        self.limit = limit
        super().__init__(host)

    def serve(self, conn):
        echoed = 0
        while data := conn.recv(65536):
            if echoed < self.limit:
                conn.sendall(data[:self.limit - echoed])
                echoed += min(len(data), self.limit - echoed)


class SwallowingTcpServer(_ThreadedTcpServer):
    """Reads everything until the client half-closes, answers nothing, closes."""

    def serve(self, conn):
        while conn.recv(65536):
            pass
        conn.close()


class FloodingTcpServer(_ThreadedTcpServer):
    """Answers every connection with bytes that never end (no newline)."""

    def serve(self, conn):
        chunk = b"x" * 65536
        while not self.stopped.is_set():
            conn.sendall(chunk)


class DrippingTcpServer(_ThreadedTcpServer):
    """Echoes what it reads, then sends one more byte every 100 ms, forever."""

    def serve(self, conn):
        while data := conn.recv(65536):
            conn.sendall(data)
        while not self.stopped.wait(0.1):
            conn.sendall(b".")


class DoublingTcpServer(_ThreadedTcpServer):
    """An 'echo' that sends everything back twice."""

    def serve(self, conn):
        while data := conn.recv(65536):
            conn.sendall(data + data)
        conn.shutdown(socket.SHUT_WR)


class CloseOnHalfCloseServer(_ThreadedTcpServer):
    """Like `ncat -e /bin/cat` seen from outside: it echoes after a moment,
    but a client's half-close makes it close at once, without answering."""

    def serve(self, conn):
        conn.settimeout(0.3)
        pending = b""
        while True:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                if pending:
                    conn.sendall(pending)
                    pending = b""
                if self.stopped.is_set():
                    return
                continue
            if not data:  # half-close: gone, whatever was owed
                conn.close()
                return
            pending += data


class FullBacklogServer(_Base):
    """Listens with a backlog of one and never accepts: once its queue is
    full, new connections get no answer at all."""

    def __init__(self, host="127.0.0.1"):
        super().__init__(socket.SOCK_STREAM, host)
        self.sock.listen(1)


class LateUdpServer(_Base):
    """Echoes each datagram `delay` seconds late."""

    def __init__(self, delay=1.5, host="127.0.0.1"):
        super().__init__(socket.SOCK_DGRAM, host)
        self.delay = delay
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except OSError:
                return
            timer = threading.Timer(self.delay, self._reply, args=(data, peer))
            timer.daemon = True
            timer.start()

    def _reply(self, data, peer):
        try:
            self.sock.sendto(data, peer)
        except OSError:
            pass


class SilentUdpSocket(_Base):
    """A bound UDP socket that never replies (so no ICMP error either)."""

    def __init__(self, host="127.0.0.1"):
        super().__init__(socket.SOCK_DGRAM, host)


class PrefixingUdpServer(_Base):
    def __init__(self, prefix=b"echo: ", host="127.0.0.1"):
        super().__init__(socket.SOCK_DGRAM, host)
        self.prefix = prefix
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
                self.sock.sendto(self.prefix + data, peer)
            except OSError:
                return


class DroppingUdpServer(_Base):
    """Echoes every datagram but every `nth` (the 5th, 10th, ...), which it
    swallows, as a lossy network would."""

    def __init__(self, nth=5, host="127.0.0.1"):
        super().__init__(socket.SOCK_DGRAM, host)
        self.nth, self.received = nth, 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
                self.received += 1
                if self.received % self.nth:
                    self.sock.sendto(data, peer)
            except OSError:
                return
