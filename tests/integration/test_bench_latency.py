"""echo-client --bench --rate against a real echo-server that stalls for a
known time (SIGSTOP for 500 ms in the middle of the run): the corrected
latency (from each message's due time) shows the stall, the uncorrected one
(service time, from each actual send) hides it, as a closed-loop load
generator would; and the sends the stall held up are counted as skipped, not
caught up in a burst afterwards."""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import CLIENT, SLOW, EchoTestCase, Server, run  # noqa: E402

RATE = 1000  # messages a second over both connections: one every 2 ms on each
CONNECTIONS = 2
DURATION = 3.0  # seconds
STALL = 0.5  # seconds the server is stopped
STALL_AT = 1.2  # seconds after the client starts: well inside the run
STALLED_SLOTS = RATE * STALL  # sends due while the server is stopped (1 in 6 of the run's)


def us(ms):
    return ms * 1000


class StallingServer(EchoTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--port", "0", "--bind", "127.0.0.1", "--udp-rate-limit", "0")

    @classmethod
    def tearDownClass(cls):
        cls.srv.proc.send_signal(signal.SIGCONT)  # whatever happened, never leave it stopped
        cls.srv.stop()
        cls.srv.close()

    def bench(self, proto, stall, duration=DURATION):
        """Runs the load generator at RATE; with `stall`, stops the server
        for STALL seconds in the middle of it. Returns the JSON report."""
        port = self.srv.udp_port if proto == "--udp" else self.srv.tcp_port
        client = subprocess.Popen([CLIENT, proto, "127.0.0.1", "-p", str(port), "--bench", "--rate", str(RATE),
                                   "--connections", str(CONNECTIONS), "--duration", str(duration), "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            if stall:
                time.sleep(STALL_AT)
                self.srv.proc.send_signal(signal.SIGSTOP)
                try:
                    time.sleep(STALL)
                finally:
                    self.srv.proc.send_signal(signal.SIGCONT)
            out, err = client.communicate(timeout=(duration + 30) * SLOW)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait(10)
        self.assertEqual(client.returncode, 0, err)
        report = json.loads(out)
        self.assertEqual((report["errors"], report["mismatches"], report["lost"]), (0, 0, 0), report)
        corrected, uncorrected = report["latency_us"], report.get("uncorrected_latency_us")
        sys.stderr.write(
            f"\n  {proto[2:]} {'stalled' if stall else 'quiet  '}: corrected p99 {corrected['p99'] / 1000:.1f} ms "
            f"max {corrected['max'] / 1000:.1f} ms; "
            + (f"uncorrected p99 {uncorrected['p99'] / 1000:.2f} ms max {uncorrected['max'] / 1000:.1f} ms; "
               if uncorrected else "no uncorrected latency; ")
            + f"requests {report['requests']}, skipped {report.get('skipped')} "
            f"({report.get('skipped_recorded')} in latency), late {report.get('late')}\n")
        return report

    def assert_open_loop_report(self, report, duration):
        for key in ("load_model", "uncorrected_latency_us", "uncorrected_histogram", "late", "skipped",
                    "skipped_recorded"):
            self.assertIn(key, report, "the report has no open-loop figures")
        self.assertEqual(report["load_model"], "open_loop")
        # One corrected sample per echo and per skipped send counted in it;
        # one uncorrected sample per echo.
        samples = sum(count for _, count in report["histogram"]["buckets"])
        self.assertEqual(samples, report["requests"] + report["skipped_recorded"])
        self.assertEqual(sum(count for _, count in report["uncorrected_histogram"]["buckets"]), report["requests"])
        # Every slot due in the run was either echoed or skipped: none was
        # dropped unsaid, and none was added by catching up.
        slots = report["requests"] + report["skipped"]
        self.assertGreater(slots, RATE * duration * 0.9, report)
        self.assertLess(slots, RATE * duration * 1.05 + CONNECTIONS, report)

    def check_stall(self, proto):
        quiet = self.bench(proto, stall=False, duration=2.0)
        stalled = self.bench(proto, stall=True)
        corrected, uncorrected = stalled["latency_us"], stalled.get("uncorrected_latency_us")
        with self.subTest("the quiet run"):
            self.assertLess(quiet["latency_us"]["p99"], us(50) * SLOW, quiet)
            self.assert_open_loop_report(quiet, 2.0)
            # A busy machine makes the client itself miss a slot now and then
            # (a 2 ms hiccup is enough), far fewer than a stall makes it skip.
            self.assertLess(quiet["skipped"], 0.3 * STALLED_SLOTS * SLOW, quiet)
        with self.subTest("corrected latency shows the stall"):
            # The sends due during the stall waited for it, each from its own
            # due time, up to the whole 500 ms.
            self.assertGreaterEqual(corrected["max"], us(450), stalled)
            self.assertGreaterEqual(corrected["p99"], us(100), stalled)
            self.assertGreater(corrected["p99"], 4 * quiet["latency_us"]["p99"], (quiet, stalled))
        with self.subTest("uncorrected latency (service time) hides it"):
            self.assertIsNotNone(uncorrected, "no uncorrected latency in the report")
            # The message in flight when the server stopped waited the whole
            # stall, once per connection (the max), but those are far fewer
            # than 1 % of the samples.
            self.assertGreaterEqual(uncorrected["max"], us(400), stalled)
            self.assertLess(uncorrected["p99"], us(50) * SLOW, stalled)
        with self.subTest("the sends held up are skipped, not caught up in a burst"):
            self.assertLess(stalled["requests"], RATE * DURATION - 0.6 * STALLED_SLOTS,
                            "the sends due during the stall went out afterwards")
            self.assert_open_loop_report(stalled, DURATION)
            self.assertGreater(stalled["skipped"], 0.6 * STALLED_SLOTS, stalled)
            # ... and are in the corrected latency all the same (all but
            # those at the very end, which no later send stood in for).
            self.assertGreaterEqual(stalled["skipped_recorded"], stalled["skipped"] - 2 * CONNECTIONS, stalled)

    def test_tcp_stall_shows_in_corrected_latency_only(self):
        self.check_stall("--tcp")

    def test_udp_stall_shows_in_corrected_latency_only(self):
        self.check_stall("--udp")

    def test_text_report_says_how_latency_was_measured(self):
        port = str(self.srv.tcp_port)
        paced = run([CLIENT, "127.0.0.1", "-p", port, "--bench", "--rate", "200", "--duration", "0.5"])
        self.assertEqual(paced.returncode, 0, paced.stderr)
        text = paced.stdout.decode()
        for line in ("open loop   --rate 200.0/s: latency above runs from when each message was due",
                     "uncorrected p50 ", "late        ", "skipped     "):
            self.assertIn(line, text)
        self.assertNotIn("closed loop", text)
        closed = run([CLIENT, "127.0.0.1", "-p", port, "--bench", "--duration", "0.3"])
        self.assertEqual(closed.returncode, 0, closed.stderr)
        text = closed.stdout.decode()
        self.assertIn("closed loop no --rate: latency above is service time", text)
        self.assertNotIn("uncorrected", text)
        report = json.loads(run([CLIENT, "127.0.0.1", "-p", port, "--bench", "--duration", "0.3", "--json"]).stdout)
        self.assertEqual(report.get("load_model"), "closed_loop")
        self.assertNotIn("uncorrected_histogram", report)


if __name__ == "__main__":
    unittest.main()
