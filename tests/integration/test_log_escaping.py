"""What a peer says never reaches the log raw: a PROXY v2 AUTHORITY, a v1
header's protocol word, a TLS SNI and ALPN list, each holding a newline with
a whole forged log line behind it and terminal escape codes, are logged
escaped (log_safe(), docs/security.md) in the text log, and the JSON log
stays one valid object a line."""

import json
import os
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import SLOW, EchoTestCase  # noqa: E402
from test_tls import PKI, TLS_LISTENING, echo_over_bio, make_pki  # noqa: E402

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
FORGED = "2026-01-01T00:00:00.000Z info  echo-server: forged line"


def setUpModule():
    workdir = tempfile.mkdtemp(prefix="echo-log-escaping-")
    unittest.addModuleCleanup(shutil.rmtree, workdir, True)
    make_pki(workdir)


def v2_header_with_authority(authority):
    tlv = bytes([0x02]) + struct.pack("!H", len(authority)) + authority
    body = socket.inet_aton("192.0.2.7") + socket.inet_aton("198.51.100.1") + struct.pack("!HH", 40007, 9001) + tlv
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def v2_local():
    return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)


class HostileStringsInLogs(EchoTestCase):
    def start(self, log_format):
        srv = self.server("--port", "0", "--bind", "127.0.0.1", "--tcp", "--proxy-protocol", "--tls-port", "0",
                          "--tls-cert", PKI["server.pem"], "--tls-key", PKI["server.key"], "--log-level", "debug",
                          "--log-format", log_format)
        if log_format == "text":
            srv.tls_port = int(TLS_LISTENING.search(srv.wait_log(TLS_LISTENING.pattern)).group(1))
        else:
            line = srv.wait_log(r'listening tls ')
            srv.tls_port = int(TLS_LISTENING.search(json.loads(line)["msg"]).group(1))
        return srv

    def send_hostile_peers(self, srv):
        # A PROXY v2 header whose AUTHORITY forges a line and paints the terminal.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW) as s:
            s.sendall(v2_header_with_authority(b"ok.example\n" + FORGED.encode() + b"\x1b[2J\x1b]0;owned\x07\xff"))
            s.sendall(b"ping")
            self.assertEqual(s.recv(16), b"ping")
        # A v1 header whose protocol word carries an escape: refused, and the
        # warning quotes the word.
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10 * SLOW) as s:
            s.sendall(b"PROXY TC\x1b[2JP4 192.0.2.1 192.0.2.2 1 2\r\n")
            self.assertEqual(s.recv(16), b"")
        # TLS behind a LOCAL header: SNI and ALPN with a newline, a forged
        # line and escape codes.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2\n" + FORGED, "\x1b[31mred\x7f"])
        raw = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10 * SLOW)
        raw.sendall(v2_local())
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="sni.example\n" + FORGED + "\x1b[2J")
        try:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    data = raw.recv(65536)
                    self.assertTrue(data, "the server closed during the handshake")
                    incoming.write(data)
            raw.sendall(outgoing.read())
            self.assertEqual(echo_over_bio(raw, tls, incoming, outgoing, b"ping"), b"ping")
        finally:
            raw.close()

    def test_text_log_escapes_what_peers_say(self):
        srv = self.start("text")
        self.send_hostile_peers(srv)
        srv.wait_log(r"TLS session with .*SNI 'sni\.example\\x0a2026-01-01T00:00:00\.000Z info  echo-server: "
                     r"forged line\\x1b\[2J', ALPN offered 'h2\\x0a2026-01-01T00:00:00\.000Z info  echo-server: "
                     r"forged line,\\x1b\[31mred\\x7f'")
        srv.wait_log(r"authority 'ok\.example\\x0a2026-01-01T00:00:00\.000Z info  echo-server: forged line"
                     r"\\x1b\[2J\\x1b\]0;owned\\x07\\xff'")
        srv.wait_log(r"a v1 header with protocol 'TC\\x1b\[2JP4'")
        self.assertEqual(srv.stop(), 0)
        forged = [line for line in srv.lines if line.startswith("2026-01-01T00:00:00.000Z")]
        self.assertEqual(forged, [], "a peer forged a log line")
        raw = [line for line in srv.lines if "\x1b" in line or "\x07" in line or "\x7f" in line]
        self.assertEqual(raw, [], "a peer's control characters reached the log")

    def test_json_log_stays_valid_and_escaped_once(self):
        srv = self.start("json")
        self.send_hostile_peers(srv)
        srv.wait_log(r"TLS session with ")
        srv.wait_log(r"authority ")
        self.assertEqual(srv.stop(), 0)
        messages = [json.loads(line)["msg"] for line in srv.lines]  # each line one valid object
        tls_line = next(m for m in messages if m.startswith("TLS session with "))
        # Decoded, the message is what the text log shows: the escapes once.
        self.assertIn("SNI 'sni.example\\x0a" + FORGED + "\\x1b[2J'", tls_line)
        authority = next(m for m in messages if "authority " in m)
        self.assertIn("authority 'ok.example\\x0a" + FORGED + "\\x1b[2J\\x1b]0;owned\\x07\\xff'", authority)
        self.assertFalse(any("\n" in m or "\x1b" in m for m in messages))


if __name__ == "__main__":
    unittest.main()
