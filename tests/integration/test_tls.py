"""TLS with the real binaries: echo-server --tls-port against openssl
s_client, socat and Python's ssl; echo-client --tls against our server and
against socat as a foreign server; mutual TLS; SIGHUP reload; hostile
handshakes, bounded and counted; PROXY protocol before the handshake; a
socket named tls from systemd. Certificates are made here with `openssl`."""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import CLIENT, SERVER, SLOW, EchoTestCase, Server, deadline, free_port, run, tcp_echo  # noqa: E402
from metrics_support import metrics_address, scrape, value  # noqa: E402

TLS_LISTENING = re.compile(r"listening tls (?:\[[^\]]+\]|[0-9.]+):(\d+)")
ONE_MIB = 1 << 20
PKI = {}  # file name -> path, made once for the module


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_pki(workdir):
    """Two CAs; server certificates (serials 1001 and 1002) for localhost,
    127.0.0.1 and ::1 from the first; a client certificate from each."""
    def path(name):
        PKI[name] = os.path.join(workdir, name)
        return PKI[name]

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", path(f"{ca}.key"), "-out", path(f"{ca}.pem"), "-days", "2",
                "-subj", f"/CN=echo test {ca}")
    with open(path("server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    leaves = [("server", "ca", "1001", "/CN=localhost", PKI["server.ext"]),
              ("server2", "ca", "1002", "/CN=localhost", PKI["server.ext"]),
              ("client", "ca", "2001", "/CN=test client", None),
              ("stranger", "other-ca", "3001", "/CN=stranger", None)]
    for name, ca, serial, subject, ext in leaves:
        openssl("req", *ec, "-keyout", path(f"{name}.key"), "-out", path(f"{name}.csr"), "-subj", subject)
        openssl("x509", "-req", "-in", PKI[f"{name}.csr"], "-CA", PKI[f"{ca}.pem"], "-CAkey", PKI[f"{ca}.key"],
                "-set_serial", "0x" + serial, "-days", "2", "-out", path(f"{name}.pem"),
                *(["-extfile", ext] if ext else []))


def setUpModule():
    workdir = tempfile.mkdtemp(prefix="echo-tls-")
    unittest.addModuleCleanup(shutil.rmtree, workdir, True)
    make_pki(workdir)


def client_context(cert=None, key=None, ca="ca.pem"):
    context = ssl.create_default_context(cafile=PKI[ca])
    if cert:
        context.load_cert_chain(PKI[cert], PKI[key])
    return context


def tls_connect(port, context=None, host="127.0.0.1", server_hostname="localhost"):
    raw = socket.create_connection((host, port), timeout=10 * SLOW)
    try:
        # A close without close_notify raises SSLEOFError instead of
        # reading as an ordinary end: the tests tell the two apart.
        return (context or client_context()).wrap_socket(raw, server_hostname=server_hostname,
                                                         suppress_ragged_eofs=False)
    except BaseException:
        raw.close()
        raise


def serial_of(port):
    with tls_connect(port) as s:
        return int(s.getpeercert()["serialNumber"], 16)


def echo_on(sock, data):
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def echo_over_bio(raw, tls, incoming, outgoing, data):
    """Sends `data` through a memory-BIO TLS object `tls` over the socket
    `raw` and reads as much back (less if the server closes)."""
    tls.write(data)
    raw.sendall(outgoing.read())
    got = b""
    while len(got) < len(data):
        try:
            got += tls.read(65536)
        except ssl.SSLWantReadError:
            more = raw.recv(65536)
            if not more:
                break
            incoming.write(more)
    return got


def client_hello():
    """The first flight of a real TLS client: the bytes of a ClientHello."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class TlsTestCase(EchoTestCase):
    def tls_server(self, *args, cert="server", log_level="debug", **kwargs):
        """Logs at debug unless told otherwise: a test making many sessions
        without reading the log would fill the server's stderr pipe."""
        srv = self.server("--port", "0", "--tls-port", "0", "--tls-cert", PKI[f"{cert}.pem"],
                          "--tls-key", PKI[f"{cert}.key"], "--log-level", log_level, "--metrics", "127.0.0.1:0",
                          *args, **kwargs)
        srv.tls_port = int(TLS_LISTENING.search(srv.wait_log(TLS_LISTENING.pattern)).group(1))
        return srv

    def counter(self, srv, name, **labels):
        return value(scrape(metrics_address(srv)), name, **labels)

    def wait_counter(self, srv, name, wanted, seconds=10):
        end = deadline(seconds)
        while (got := self.counter(srv, name)) < wanted and time.monotonic() < end:
            time.sleep(0.1)  # ten scrapes a second at most: each rendered afresh (metrics.md, Bounds)
        self.assertEqual(got, wanted, name)


class ThirdPartyClients(TlsTestCase):
    def test_openssl_s_client_echoes_1_mib_of_random_bytes(self):
        srv = self.tls_server()
        data = os.urandom(ONE_MIB)
        proc = subprocess.Popen(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{srv.tls_port}", "-CAfile", PKI["ca.pem"],
             "-verify_return_error", "-verify_hostname", "localhost", "-servername", "localhost", "-quiet",
             "-no_ign_eof", "-nocommands"],  # (else a random line starting with R or K is a command)
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        # Written and read at once: 1 MiB does not fit in the socket buffers.
        writer = threading.Thread(target=proc.stdin.write, args=(data,))
        writer.start()
        got = bytearray()
        end = deadline(30)
        while len(got) < len(data) and time.monotonic() < end:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            got += chunk
        writer.join(30 * SLOW)
        proc.stdin.close()  # s_client ends the session at the end of its input
        self.assertEqual(proc.wait(30 * SLOW), 0, proc.stderr.read().decode())
        proc.stdout.close()
        proc.stderr.close()
        self.assertEqual(len(got), len(data))
        self.assertTrue(bytes(got) == data, "the echo differs from what was sent")
        srv.wait_log(r"TLS session with .*: TLSv1\.3 .*SNI 'localhost'")
        self.assertEqual(srv.stop(), 0)

    def test_socat_echoes_1_mib_with_half_close(self):
        srv = self.tls_server()
        data = os.urandom(ONE_MIB)
        result = run(["socat", "-t", "10", "-", f"OPENSSL:127.0.0.1:{srv.tls_port},cafile={PKI['ca.pem']}"],
                     input=data)
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertTrue(result.stdout == data, f"{len(result.stdout)} bytes came back, not the {len(data)} sent")
        # socat's close_notify was the half-close; ours answered it.
        srv.wait_log(r"session closed: .* closed by peer bytes_in=%d bytes_out=%d" % (ONE_MIB, ONE_MIB))
        self.assertEqual(self.counter(srv, "echo_tcp_sent_bytes_total"), ONE_MIB)
        self.assertEqual(srv.stop(), 0)

    def test_ncat_half_closes_tcp_under_tls_and_still_gets_everything(self):
        srv = self.tls_server()
        data = os.urandom(ONE_MIB)
        result = run(["ncat", "--ssl", "--ssl-trustfile", PKI["ca.pem"], "localhost", str(srv.tls_port)], input=data)
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertTrue(result.stdout == data, f"{len(result.stdout)} bytes came back, not the {len(data)} sent")
        srv.wait_log(r"closed by peer without close_notify bytes_in=%d bytes_out=%d" % (ONE_MIB, ONE_MIB))
        self.assertEqual(self.counter(srv, "echo_tcp_session_errors_total"), 0)
        self.assertEqual(srv.stop(), 0)

    def test_python_ssl_over_ipv4_and_ipv6_with_alpn_logged(self):
        srv = self.tls_server()
        for host in ("127.0.0.1", "::1"):
            with self.subTest(host=host):
                context = client_context()
                context.set_alpn_protocols(["h2", "http/1.1"])
                with tls_connect(srv.tls_port, context, host=host) as s:
                    self.assertEqual(echo_on(s, b"over " + host.encode()), b"over " + host.encode())
                    self.assertIsNone(s.selected_alpn_protocol())  # echo speaks no protocol
        srv.wait_log(r"ALPN offered 'h2,http/1\.1'")
        self.assertEqual(self.counter(srv, "echo_tls_handshakes_total"), 2)
        self.assertEqual(srv.stop(), 0)


class OurClient(TlsTestCase):
    def test_every_mode_over_tls(self):
        srv = self.tls_server()
        base = [CLIENT, "--tls", "--tls-ca", PKI["ca.pem"], "-p", str(srv.tls_port)]
        probe = run(base + ["-m", "health", "--check"])
        self.assertEqual((probe.returncode, probe.stdout), (0, b"health\n"), probe.stderr)
        data = os.urandom(ONE_MIB)
        for extra in ([], ["--no-shutdown"]):
            with self.subTest(pipe=extra):
                piped = run(base + extra, input=data)
                self.assertEqual(piped.returncode, 0, piped.stderr)
                self.assertTrue(piped.stdout == data, f"{len(piped.stdout)} bytes")
        # Interactive mode needs a terminal: script(1) gives it one.
        lines = run(["script", "-qec", " ".join(base) + " 127.0.0.1", "/dev/null"], input=b"line one\nq\n")
        self.assertEqual(lines.returncode, 0, lines.stdout + lines.stderr)
        self.assertIn(b"(tls)", lines.stdout)
        self.assertEqual(lines.stdout.count(b"line one"), 2, lines.stdout)  # typed (echoed by the tty), then the reply
        bench = run(base + ["--bench", "--connections", "4", "--duration", "0.5", "--json"])
        self.assertEqual(bench.returncode, 0, bench.stderr)
        self.assertRegex(bench.stdout, rb'"errors":0,"mismatches":0.*"tls":true')
        self.assertNotRegex(bench.stdout, rb'"requests":0,')
        self.assertEqual(self.counter(srv, "echo_tls_handshake_failures_total"), 0)
        self.assertEqual(srv.stop(), 0)
        # Every mode ended its sessions with close_notify, none with a bare close.
        closes = [line for line in srv.lines if "session closed" in line]
        self.assertGreaterEqual(len(closes), 9)
        self.assertFalse([line for line in closes if "without close_notify" in line or "reset" in line], closes)

    def test_verification_on_by_default_with_a_one_line_reason(self):
        srv = self.tls_server()
        cases = [
            ([], "certificate verify failed: unable to get local issuer certificate"),
            (["--tls-ca", PKI["other-ca.pem"]], "certificate verify failed"),
            (["--tls-ca", PKI["ca.pem"], "--servername", "elsewhere.example"],
             "certificate verify failed: hostname mismatch"),
        ]
        for extra, reason in cases:
            with self.subTest(extra=extra):
                result = run([CLIENT, "--tls", *extra, "-p", str(srv.tls_port), "-m", "x"])
                self.assertEqual(result.returncode, 1, result.stderr)
                err = result.stderr.decode()
                self.assertEqual(err.count("\n"), 1, err)
                self.assertIn(f"tls localhost port {srv.tls_port}: {reason}", err)
                self.assertEqual(result.stdout, b"")
        insecure = run([CLIENT, "--tls", "--insecure", "127.0.0.1", str(srv.tls_port), "-m", "anyway"])
        self.assertEqual((insecure.returncode, insecure.stdout), (0, b"anyway\n"), insecure.stderr)
        self.assertEqual(srv.stop(), 0)

    def test_against_socat_as_a_foreign_tls_server(self):
        port = free_port("127.0.0.1")
        socat = subprocess.Popen(
            ["socat", f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={PKI['server.pem']},"
             f"key={PKI['server.key']},verify=0", "PIPE"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: (socat.poll() is None and socat.kill(), socat.wait(5), socat.stderr.close()))
        base = [CLIENT, "--tls", "--tls-ca", PKI["ca.pem"], "127.0.0.1", str(port)]
        end = deadline(10)
        while (probe := run(base + ["-m", "ping", "--check", "--timeout", "1"])).returncode != 0:
            self.assertLess(time.monotonic(), end, probe.stderr)
            time.sleep(0.05)
        data = os.urandom(ONE_MIB)
        piped = run(base, input=data)
        self.assertEqual(piped.returncode, 0, piped.stderr)
        self.assertTrue(piped.stdout == data, f"{len(piped.stdout)} bytes")

    def test_bad_client_files_are_usage_errors(self):
        for args, named in [(["--tls-ca", "/nonexistent/ca.pem"], "--tls-ca: '/nonexistent/ca.pem'"),
                            (["--cert", PKI["client.pem"], "--key", PKI["server.key"]], "--key"),
                            (["--tls-ca", PKI["client.key"]], "--tls-ca"),
                            (["--cert", PKI["client.pem"]], "--cert needs --key")]:
            with self.subTest(args=args):
                result = run([CLIENT, "--tls", *args, "-p", "9", "-m", "x"])
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(named, result.stderr.decode())
        result = run([CLIENT, "--tls-ca", PKI["ca.pem"], "-m", "x"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("--tls-ca needs --tls", result.stderr.decode())


class MutualTls(TlsTestCase):
    def test_client_certificates_from_the_right_ca_only(self):
        srv = self.tls_server("--tls-client-ca", PKI["ca.pem"])
        base = [CLIENT, "--tls", "--tls-ca", PKI["ca.pem"], "-p", str(srv.tls_port), "-m", "mutual"]
        without = run(base)
        self.assertEqual(without.returncode, 1)
        self.assertIn("certificate required", without.stderr.decode())
        stranger = run(base + ["--cert", PKI["stranger.pem"], "--key", PKI["stranger.key"]])
        self.assertEqual(stranger.returncode, 1)
        good = run(base + ["--cert", PKI["client.pem"], "--key", PKI["client.key"]])
        self.assertEqual((good.returncode, good.stdout), (0, b"mutual\n"), good.stderr)
        srv.wait_log(r"client certificate '/CN=test client'")
        # Python's ssl and openssl s_client agree.
        with tls_connect(srv.tls_port, client_context("client.pem", "client.key")) as s:
            self.assertEqual(echo_on(s, b"python"), b"python")
        # (-quiet goes on reading after its input ends, until the server's alert.)
        refused = run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.tls_port}", "-CAfile", PKI["ca.pem"],
                       "-quiet"], input=b"")
        self.assertIn(b"alert certificate required", refused.stderr)
        self.wait_counter(srv, "echo_tls_handshake_failures_total", 3)
        srv.wait_log(r"TLS handshake with .* failed: peer did not return a certificate")
        self.assertEqual(srv.stop(), 0)


class Reload(TlsTestCase):
    def test_sighup_serves_the_new_certificate_and_keeps_open_sessions(self):
        workdir = tempfile.mkdtemp(prefix="echo-tls-reload-")
        self.addCleanup(shutil.rmtree, workdir, True)
        cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
        shutil.copy(PKI["server.pem"], cert)
        shutil.copy(PKI["server.key"], key)
        srv = self.server("--port", "0", "--tls-port", "0", "--tls-cert", cert, "--tls-key", key,
                          "--log-level", "debug")
        port = int(TLS_LISTENING.search(srv.wait_log(TLS_LISTENING.pattern)).group(1))
        self.assertEqual(serial_of(port), 0x1001)
        with tls_connect(port) as open_session:
            self.assertEqual(echo_on(open_session, b"before"), b"before")
            shutil.copy(PKI["server2.pem"], cert)
            shutil.copy(PKI["server2.key"], key)
            srv.signal(signal.SIGHUP)
            srv.wait_log(r"TLS certificate reloaded from .*serial 1002")
            self.assertEqual(serial_of(port), 0x1002)
            self.assertEqual(echo_on(open_session, b"after the reload"), b"after the reload")
            self.assertEqual(int(open_session.getpeercert()["serialNumber"], 16), 0x1001)

            # A broken file: an error naming it, and the last good one stays.
            with open(cert, "w") as f:
                f.write("not a certificate\n")
            srv.signal(signal.SIGHUP)
            line = srv.wait_log(r"TLS reload failed")
            self.assertIn(f"--tls-cert: '{cert}'", line)
            self.assertIn("error", line)
            self.assertEqual(serial_of(port), 0x1002)
            self.assertEqual(echo_on(open_session, b"still here"), b"still here")
        self.assertIsNone(srv.proc.poll())
        self.assertEqual(srv.stop(), 0)


class Hostile(TlsTestCase):
    def test_silent_garbage_and_half_handshakes_are_bounded_and_counted(self):
        srv = self.tls_server("--idle-timeout", "2")  # handshakes get min(2 s, 10 s)
        good = tls_connect(srv.tls_port)
        self.addCleanup(good.close)
        self.assertEqual(echo_on(good, b"good"), b"good")
        hello = client_hello()
        hostile = []
        for first in (b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)), hello[:len(hello) // 2]):
            s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10 * SLOW)
            self.addCleanup(s.close)
            s.sendall(first)
            hostile.append(s)
        # The others never wait on them.
        started = time.monotonic()
        self.assertEqual(echo_on(good, b"meanwhile"), b"meanwhile")
        self.assertEqual(tcp_echo(srv.tcp_port, b"plain"), b"plain")
        self.assertLess(time.monotonic() - started, 1 * SLOW)
        # Each is closed within the bound (2 s, and the sweep's slack).
        for s in hostile:
            s.settimeout(6 * SLOW)
            try:
                while s.recv(65536):
                    pass  # an alert, then the end
            except ConnectionResetError:
                pass
        self.assertLess(time.monotonic() - started, 6 * SLOW)
        self.wait_counter(srv, "echo_tls_handshake_failures_total", 3)
        srv.wait_log(r"TLS handshake with .* failed: .*(wrong version number|not complete within 2s)")
        # (The good session may have been idle for 2 s by now, and closed as
        # such: a new one shows the listener unharmed.)
        with tls_connect(srv.tls_port) as again:
            self.assertEqual(echo_on(again, b"still served"), b"still served")
        self.assertEqual(srv.stop(), 0)

    def test_2000_handshakes_in_a_row(self):
        srv = self.tls_server(log_level="info")
        long_lived = tls_connect(srv.tls_port)
        self.addCleanup(long_lived.close)
        context = client_context()
        count = 2000
        for i in range(count):
            with tls_connect(srv.tls_port, context) as s:
                if i % 500 == 0:
                    self.assertEqual(echo_on(s, b"%d" % i), b"%d" % i)
                    self.assertEqual(echo_on(long_lived, b"alive %d" % i), b"alive %d" % i)
        self.wait_counter(srv, "echo_tls_handshakes_total", count + 1)
        self.assertEqual(self.counter(srv, "echo_tls_handshake_failures_total"), 0)
        self.assertEqual(self.counter(srv, "echo_tcp_connections_active"), 1)
        self.assertEqual(echo_on(long_lived, b"after all"), b"after all")
        self.assertEqual(srv.stop(), 0)

    def test_an_idle_tls_session_is_closed_with_close_notify(self):
        srv = self.tls_server("--idle-timeout", "1")
        with tls_connect(srv.tls_port) as s:
            self.assertEqual(echo_on(s, b"then quiet"), b"then quiet")
            s.settimeout(10 * SLOW)
            self.assertEqual(s.recv(100), b"")  # a clean TLS end: Python raises SSLEOFError without close_notify
        self.wait_counter(srv, "echo_tcp_idle_timeouts_total", 1)
        self.assertEqual(srv.stop(), 0)


class SharedWithPlainTcp(TlsTestCase):
    def test_max_connections_counts_tls_and_plain_sessions_together(self):
        srv = self.tls_server("--max-connections", "2")
        first = tls_connect(srv.tls_port)
        self.addCleanup(first.close)
        self.assertEqual(echo_on(first, b"one"), b"one")
        plain = socket.create_connection(("127.0.0.1", srv.tcp_port), timeout=10 * SLOW)
        self.addCleanup(plain.close)
        self.assertEqual(echo_on(plain, b"two"), b"two")
        # A third, TLS or plain, is closed at once.
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            with tls_connect(srv.tls_port) as third:
                third.recv(1)
        self.assertEqual(self.counter(srv, "echo_tcp_connections_rejected_total", reason="max_connections"), 1)
        self.assertEqual(echo_on(first, b"still one"), b"still one")
        self.assertEqual(srv.stop(), 0)

    def test_graceful_stop_waits_then_ends_tls_sessions_with_close_notify(self):
        srv = self.tls_server("--shutdown-timeout", "1")
        with tls_connect(srv.tls_port) as s:
            self.assertEqual(echo_on(s, b"before the stop"), b"before the stop")
            srv.signal(signal.SIGTERM)
            srv.wait_log(r"stopping: no new connections; 1 session\(s\) open")
            self.assertEqual(echo_on(s, b"while draining"), b"while draining")
            s.settimeout(10 * SLOW)
            self.assertEqual(s.recv(100), b"")  # close_notify: Python raises SSLEOFError on a bare close
        self.assertEqual(srv.wait_exit(), 0)
        self.assertTrue(any("shutdown timeout: closing 1 session(s)" in line for line in srv.lines), srv.lines)


class ProxyBeforeTls(TlsTestCase):
    def test_proxy_header_then_handshake_in_one_write_and_from_our_client(self):
        srv = self.tls_server("--proxy-protocol")
        # The header and the ClientHello in one segment: the server must hand
        # what follows the header to the handshake.
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
        with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10 * SLOW) as raw:
            first = True
            while True:
                try:
                    tls.do_handshake()
                    done = True
                except ssl.SSLWantReadError:
                    done = False
                out = outgoing.read()
                if first:
                    out = b"PROXY TCP4 198.51.100.7 192.0.2.1 40000 443\r\n" + out
                    first = False
                if out:
                    raw.sendall(out)
                if done:
                    break
                incoming.write(raw.recv(65536))
            self.assertEqual(echo_over_bio(raw, tls, incoming, outgoing, b"behind a balancer"), b"behind a balancer")
        srv.wait_log(r"TLS session with 198\.51\.100\.7:40000")
        ours = run([CLIENT, "--tls", "--tls-ca", PKI["ca.pem"], "--proxy-header", "v2", "-p", str(srv.tls_port),
                    "-m", "v2 then tls", "--check"])
        self.assertEqual(ours.returncode, 0, ours.stderr)
        self.assertEqual(self.counter(srv, "echo_tls_handshake_failures_total"), 0)
        self.assertEqual(srv.stop(), 0)


class Configuration(EchoTestCase):
    def test_bad_tls_options_exit_2_naming_the_option_and_file(self):
        cases = [
            (["--tls-port", "0"], "--tls-port needs --tls-cert FILE and --tls-key FILE"),
            (["--tls-port", "0", "--tls-cert", "/nonexistent.pem", "--tls-key", PKI["server.key"]],
             "invalid value for --tls-cert: '/nonexistent.pem' (cannot read it: No such file or directory)"),
            (["--tls-port", "0", "--tls-cert", PKI["server.key"], "--tls-key", PKI["server.key"]],
             f"invalid value for --tls-cert: '{PKI['server.key']}': not a PEM certificate chain"),
            (["--tls-port", "0", "--tls-cert", PKI["server.pem"], "--tls-key", PKI["client.key"]],
             f"invalid value for --tls-key: '{PKI['client.key']}': does not match the certificate"),
            (["--tls-port", "0", "--tls-cert", PKI["server.pem"], "--tls-key", PKI["server.key"],
              "--tls-client-ca", PKI["server.ext"]], "invalid value for --tls-client-ca"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                result = run([SERVER, "--port", "0", *args], timeout=15)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(message, result.stderr.decode())
        env = run([SERVER, "--port", "0", "--tls-port", "0", "--tls-key", PKI["server.key"]],
                  env={"ECHO_SERVER_TLS_CERT": "/nonexistent.pem"})
        self.assertEqual(env.returncode, 2)
        self.assertIn("ECHO_SERVER_TLS_CERT", env.stderr.decode())

    def test_a_socket_named_tls_from_systemd(self):
        activate = shutil.which("systemd-socket-activate")
        self.assertTrue(activate, "systemd-socket-activate missing: scripts/deps installs systemd")
        port = free_port("127.0.0.1")
        srv = Server("--tls-cert", PKI["server.pem"], "--tls-key", PKI["server.key"], wait_listening=False,
                     wrapper=[activate, "-l", f"127.0.0.1:{port}", "--fdname=tls", SERVER])
        self.addCleanup(srv.close)
        end = deadline(10)
        while True:
            try:
                s = tls_connect(port)
                break
            except ConnectionRefusedError:
                self.assertLess(time.monotonic(), end)
                time.sleep(0.02)
        with s:
            self.assertEqual(echo_on(s, b"activated"), b"activated")
        srv.wait_log(r"listening tls 127\.0\.0\.1:%d \(from systemd\)" % port)
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    unittest.main()
