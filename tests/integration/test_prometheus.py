"""A real Prometheus server scrapes echo-server's --metrics endpoint. The
test starts Prometheus as its child on a free port, with its own config and
data directory, asks its HTTP API until the target is up and the echo
counters are there, then stops it by PID."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import EchoTestCase, deadline, free_port, stop_process, tcp_echo, udp_echo  # noqa: E402
from metrics_support import metrics_address  # noqa: E402


class RealPrometheus(EchoTestCase):
    def start_prometheus(self, target):
        binary = shutil.which("prometheus")
        self.assertIsNotNone(binary, "prometheus missing: scripts/deps installs it")
        workdir = tempfile.mkdtemp(prefix="echo-prometheus-")
        self.addCleanup(shutil.rmtree, workdir, True)
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: echo\n    static_configs:\n"
                    f"      - targets: ['{target}']\n")
        port = free_port("127.0.0.1")
        log = open(os.path.join(workdir, "prometheus.log"), "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={workdir}/data",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(stop_process, proc, 20)
        self.prometheus_log = log.name
        return f"http://127.0.0.1:{port}", proc

    def query(self, base, expr):
        url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.load(resp)
        self.assertEqual(body["status"], "success", body)
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in body["data"]["result"]}

    def test_scraped_up_and_counters_exact(self):
        srv = self.server("--port", "0", "--bind", "127.0.0.1", "--metrics", "127.0.0.1:0")
        host, port = metrics_address(srv)
        data = os.urandom(12345)
        self.assertEqual(tcp_echo(srv.port, data), data)
        self.assertEqual(udp_echo(srv.port, b"a datagram"), b"a datagram")
        base, proc = self.start_prometheus(f"{host}:{port}")

        end = deadline(60)
        seen = {}
        while time.monotonic() < end:
            self.assertIsNone(proc.poll(), f"prometheus exited; see {self.prometheus_log}")
            try:
                up = self.query(base, 'up{job="echo"}')
                received = self.query(base, 'echo_tcp_received_bytes_total{job="echo"}')
                datagrams = self.query(base, 'echo_udp_sent_datagrams_total{job="echo"}')
                seen = {"up": list(up.values()), "received": list(received.values()),
                        "datagrams": list(datagrams.values())}
                if seen == {"up": [1.0], "received": [12345.0], "datagrams": [1.0]}:
                    break
            except OSError:
                pass  # not listening yet
            time.sleep(0.2)
        self.assertEqual(seen, {"up": [1.0], "received": [12345.0], "datagrams": [1.0]})
        # The histogram arrives whole: a p99 can be computed from it.
        p99 = self.query(base, 'histogram_quantile(0.99, echo_tcp_session_duration_seconds_bucket{job="echo"})')
        self.assertEqual(len(p99), 1)
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    unittest.main()
