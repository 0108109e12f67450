"""Load generator reports as they are collected and merged at scale: --merge
fed hostile reports and things that are not files (refused with exit 2
naming the file, never a crash, a hang or a wrong number), --json-out,
progress lines only where they belong, and the Kubernetes Job's documented
collection run as written."""

import json
import math
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import CLIENT, SLOW, EchoTestCase, Server, run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "data", "merge_reports")
JOB = os.path.join(ROOT, "deploy", "kubernetes", "load-generators.yaml")
MAX_REPORT_BYTES = 1 << 20  # max_report_bytes in lib/echo/client/bench/merge_reports.hpp
MERGE_SECONDS = 10  # what one --merge may take, however hostile its files
# Debian's interpreter with python3-yaml (scripts/deps installs it), which
# the one running the tests may not be.
YAML_TO_JSON = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"


def merge(*args, cwd=None):
    """echo-client --merge ARGS, bounded in time. Returns (code, stdout, stderr)."""
    out = subprocess.run([CLIENT, "--merge", *args], capture_output=True, cwd=cwd, stdin=subprocess.DEVNULL,
                         timeout=MERGE_SECONDS * SLOW)
    return out.returncode, out.stdout, out.stderr


def load(name):
    with open(os.path.join(CORPUS, name)) as f:
        return json.load(f)


def upper_edge(index):
    if index < 64:
        return index
    magnitude = (index - 32) // 32
    return (((index - 32) % 32 + 32 + 1) << magnitude) - 1


def quantile(buckets, q, maximum):
    total = sum(count for _, count in buckets)
    wanted = max(1, math.ceil(q * total))
    seen = 0
    for index, count in sorted(buckets):
        seen += count
        if seen >= wanted:
            return min(upper_edge(index), maximum)
    return maximum


class RefusalCase(unittest.TestCase):
    def assert_refused(self, code, err, name, words=""):
        """Exit 2 (not a signal, not 1 from an exception that escaped), one
        message naming the file, nothing a terminal would act on."""
        self.assertGreaterEqual(code, 0, f"killed by signal {-code}: {err!r}")
        self.assertEqual(code, 2, err)
        text = err.decode("utf-8", "replace")
        self.assertIn(f"cannot merge {name}: ", text)
        self.assertIn(words, text)
        self.assertNotIn(b"\x1b", err)
        self.assertEqual(text.count("\n"), 1, text)


class HostileReports(RefusalCase):
    def test_the_corpus_is_what_its_generator_writes(self):
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([sys.executable, os.path.join(CORPUS, "make_corpus.py"), out], check=True, timeout=60)
            made = sorted(os.listdir(out))
            committed = sorted(n for n in os.listdir(CORPUS) if n.startswith("hostile-") or n == "expected.json")
            self.assertEqual(made, committed, "run tests/data/merge_reports/make_corpus.py and commit its output")
            for name in made:
                with open(os.path.join(out, name), "rb") as a, open(os.path.join(CORPUS, name), "rb") as b:
                    self.assertEqual(a.read(), b.read(), name)
        self.assertGreaterEqual(len(made) - 1, 30)

    def test_every_hostile_report_is_refused_naming_it(self):
        expected = load("expected.json")
        for name, words in sorted(expected.items()):
            with self.subTest(name):
                started = time.monotonic()
                code, out, err = merge("good-b.json", name, cwd=CORPUS)
                self.assert_refused(code, err, name, words)
                self.assertEqual(out, b"", "nothing merged is printed")
                self.assertLess(time.monotonic() - started, MERGE_SECONDS * SLOW)

    def test_the_good_reports_merge_exactly(self):
        a, b = load("good-a.json"), load("good-b.json")
        code, out, err = merge("good-a.json", "good-b.json", "--json", cwd=CORPUS)
        self.assertEqual(code, 0, err)
        m = json.loads(out)
        for key in ("connections", "requests", "bytes", "errors", "mismatches", "lost", "connections_echoed"):
            self.assertEqual(m[key], a[key] + b[key], key)
        self.assertEqual(m["generators"], 2)
        self.assertEqual(sorted(m["runs"]), sorted(a["runs"] + b["runs"]))
        self.assertEqual(m["seconds"], max(a["seconds"], b["seconds"]))
        pooled = {}
        for index, count in a["histogram"]["buckets"] + b["histogram"]["buckets"]:
            pooled[index] = pooled.get(index, 0) + count
        self.assertEqual(m["histogram"]["buckets"], sorted([i, c] for i, c in pooled.items()))
        self.assertEqual(m["histogram"]["min"], min(a["histogram"]["min"], b["histogram"]["min"]))
        self.assertEqual(m["histogram"]["max"], max(a["histogram"]["max"], b["histogram"]["max"]))
        for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)):
            self.assertEqual(m["latency_us"][key], quantile(pooled.items(), q, m["histogram"]["max"]) / 1000, key)
        # Open loop: the schedules' figures add up, the uncorrected histograms pool.
        self.assertEqual(m["load_model"], "open_loop")
        for key in ("rate", "late", "skipped", "skipped_recorded"):
            self.assertEqual(m[key], a[key] + b[key], key)
        self.assertGreater(m["skipped_recorded"], 0)
        self.assertEqual(sum(c for _, c in m["histogram"]["buckets"]), m["requests"] + m["skipped_recorded"])
        uncorrected = {}
        for index, count in a["uncorrected_histogram"]["buckets"] + b["uncorrected_histogram"]["buckets"]:
            uncorrected[index] = uncorrected.get(index, 0) + count
        self.assertEqual(m["uncorrected_histogram"]["buckets"], sorted([i, c] for i, c in uncorrected.items()))
        for key, q in (("p50", 0.5), ("p99", 0.99)):
            self.assertEqual(m["uncorrected_latency_us"][key],
                             quantile(uncorrected.items(), q, m["uncorrected_histogram"]["max"]) / 1000, key)
        self.assertEqual((m["started"], m["ended"]), (min(a["started"], b["started"]), max(a["ended"], b["ended"])))
        self.assertEqual(m["overlap"], {"from": max(a["started"], b["started"]), "to": min(a["ended"], b["ended"])})
        # The merged report is a report: it merges again, and with itself it is refused.
        with tempfile.TemporaryDirectory() as tmp:
            merged = os.path.join(tmp, "merged.json")
            with open(merged, "wb") as f:
                f.write(out)
            code, again, err = merge(merged, "--json")
            self.assertEqual(code, 0, err)
            self.assertEqual(json.loads(again), m)
            code, _, err = merge(merged, os.path.join(CORPUS, "good-a.json"))
            self.assert_refused(code, err, os.path.join(CORPUS, "good-a.json"), "which " + merged + " holds too")
        code, text, err = merge("good-a.json", "good-b.json", cwd=CORPUS)
        self.assertEqual(code, 0, err)
        self.assertIn(b"generators  2, all running at once for 0.5 s", text)
        self.assertIn(b"p99.9 ", text)

    def test_reports_from_before_times_and_run_ids_merge_with_times_unknown(self):
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for name in ("good-a.json", "good-b.json"):
                r = load(name)
                for key in ("generators", "started", "ended", "overlap", "runs"):
                    del r[key]
                del r["histogram"]["sub_buckets"]
                paths.append(os.path.join(tmp, name))
                with open(paths[-1], "w") as f:
                    json.dump(r, f)
            code, out, err = merge(*paths)
            self.assertEqual(code, 0, err)
            self.assertIn(b"generators  2, times unknown", out)


class NotReportFiles(RefusalCase):
    """What a glob or a typo can hand --merge besides report files."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.good = os.path.join(CORPUS, "good-b.json")

    def path(self, name):
        return os.path.join(self.tmp, name)

    def assert_refused_beside_a_good_one(self, path, words):
        started = time.monotonic()
        code, out, err = merge(self.good, path)
        self.assert_refused(code, err, path, words)
        self.assertEqual(out, b"")
        self.assertLess(time.monotonic() - started, MERGE_SECONDS * SLOW)

    def test_a_directory(self):
        self.assert_refused_beside_a_good_one(self.tmp, "it is a directory, not a regular file")

    def test_a_fifo_without_a_writer_does_not_hang_it(self):
        os.mkfifo(self.path("fifo"))
        self.assert_refused_beside_a_good_one(self.path("fifo"), "it is a FIFO, not a regular file")

    def test_a_fifo_with_a_writer_that_never_ends(self):
        os.mkfifo(self.path("fifo"))
        reader = os.open(self.path("fifo"), os.O_RDONLY | os.O_NONBLOCK)  # so that the writer can open it
        writer = os.open(self.path("fifo"), os.O_WRONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, reader)
        self.addCleanup(os.close, writer)
        os.write(writer, b'{"protocol":')
        self.assert_refused_beside_a_good_one(self.path("fifo"), "it is a FIFO, not a regular file")

    def test_dev_zero_and_a_symlink_to_it(self):
        self.assert_refused_beside_a_good_one("/dev/zero", "it is a character device, not a regular file")
        os.symlink("/dev/zero", self.path("report.json"))
        self.assert_refused_beside_a_good_one(self.path("report.json"), "it is a character device")

    def test_a_unix_socket(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(self.path("sock"))
            self.assert_refused_beside_a_good_one(self.path("sock"), "it is a socket, not a regular file")

    def test_an_empty_file(self):
        open(self.path("empty.json"), "w").close()
        self.assert_refused_beside_a_good_one(self.path("empty.json"), "it is empty, not a report")

    def test_a_file_over_the_size_bound_and_one_just_under(self):
        with open(os.path.join(CORPUS, "good-a.json"), "rb") as f:
            report = f.read()
        # White space after the object is still one report: at the bound it
        # merges, one byte over it is refused unread.
        with open(self.path("at-the-bound.json"), "wb") as f:
            f.write(report + b" " * (MAX_REPORT_BYTES - len(report)))
        code, _, err = merge(self.good, self.path("at-the-bound.json"))
        self.assertEqual(code, 0, err)
        with open(self.path("over-the-bound.json"), "wb") as f:
            f.write(report + b" " * (MAX_REPORT_BYTES + 1 - len(report)))
        self.assert_refused_beside_a_good_one(self.path("over-the-bound.json"), "larger than 1 MiB")
        with open(self.path("huge.json"), "wb") as f:
            f.truncate(1 << 40)  # sparse: a terabyte that takes no disk
        self.assert_refused_beside_a_good_one(self.path("huge.json"), "larger than 1 MiB")

    def test_a_nul_byte_in_a_report(self):
        with open(os.path.join(CORPUS, "good-a.json"), "rb") as f:
            report = f.read()
        with open(self.path("nul.json"), "wb") as f:
            f.write(report.replace(b",", b",\0", 1))
        self.assert_refused_beside_a_good_one(self.path("nul.json"), "not JSON: syntax error at byte")

    def test_a_file_that_is_not_there(self):
        self.assert_refused_beside_a_good_one(self.path("missing.json"),
                                              "cannot read it: No such file or directory")

    def test_the_same_file_twice(self):
        self.assert_refused_beside_a_good_one(self.good, "it is the same report as")


class JsonOut(EchoTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--port", "0", "--bind", "127.0.0.1", "--tcp")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def bench(self, *args, duration="0.3"):
        return run([CLIENT, "127.0.0.1", "-p", str(self.srv.port), "--bench", "--duration", duration, *args],
                   timeout=60)

    def test_the_report_is_written_whole_beside_what_stdout_shows(self):
        path = os.path.join(self.tmp, "r.json")
        out = self.bench("--json", "--json-out", path)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), out.stdout)
        self.assertEqual(os.listdir(self.tmp), ["r.json"])
        text = self.bench("--json-out", path)  # replaced; stdout has the text report
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn(b"requests    ", text.stdout)
        with open(path) as f:
            report = json.load(f)
        self.assertEqual(report["generators"], 1)
        self.assertRegex(report["started"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        merged = os.path.join(self.tmp, "merged.json")
        code, stdout, err = merge(path, "--json-out", merged)
        self.assertEqual(code, 0, err)
        self.assertIn(b"requests    ", stdout)
        with open(merged) as f:
            self.assertEqual(json.load(f)["requests"], report["requests"])

    def test_a_place_it_cannot_be_written_is_refused_before_the_run(self):
        for path, words in ((os.path.join(self.tmp, "missing", "r.json"), "no directory"),
                            (self.tmp, "a directory"),
                            (os.path.join(self.tmp, "file", "r.json"), "no directory")):
            open(os.path.join(self.tmp, "file"), "w").close()
            with self.subTest(path=path):
                started = time.monotonic()
                out = self.bench("--json-out", path, duration="30")
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertIn(f"invalid value for --json-out: '{path}' ({words}".encode(), out.stderr)
                self.assertLess(time.monotonic() - started, 10 * SLOW, "refused only after the run")

    @unittest.skipIf(os.geteuid() == 0, "root writes to any directory")
    def test_a_directory_without_write_permission(self):
        locked = os.path.join(self.tmp, "locked")
        os.mkdir(locked, 0o555)
        out = self.bench("--json-out", os.path.join(locked, "r.json"))
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn(b"is not writable", out.stderr)

    def test_a_failure_at_the_end_exits_1_and_leaves_nothing_half_written(self):
        # The place was fine at the start; by the end it is a directory that
        # rename() cannot replace. The report still reaches stdout.
        path = os.path.join(self.tmp, "r.json")
        client = subprocess.Popen([CLIENT, "127.0.0.1", "-p", str(self.srv.port), "--bench", "--duration", "2",
                                   "--json", "--progress", "--json-out", path],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(client.kill)
        self.assertIn(b"[1s]", client.stderr.readline())  # parsed and running
        os.makedirs(os.path.join(path, "inside"))
        out, err = client.communicate(timeout=30 * SLOW)
        self.assertEqual(client.returncode, 1, err)
        self.assertIn(f"cannot write the report to {path}: ".encode(), err)
        self.assertGreater(json.loads(out)["requests"], 0)
        self.assertEqual(os.listdir(self.tmp), ["r.json"])  # no temporary file left


class ProgressAndTheJob(EchoTestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server("--port", "0", "--bind", "127.0.0.1", "--tcp")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.srv.close()

    def test_no_progress_lines_unless_asked_when_stderr_is_not_a_terminal(self):
        args = [CLIENT, "127.0.0.1", "-p", str(self.srv.port), "--bench", "--duration", "1.2", "--json"]
        quiet = run(args, timeout=60)
        self.assertEqual(quiet.returncode, 0, quiet.stderr)
        self.assertEqual(quiet.stderr, b"")
        asked = run([*args, "--progress"], timeout=60)
        self.assertEqual(asked.returncode, 0, asked.stderr)
        self.assertRegex(asked.stderr, rb"^\[1s\] \d+ requests, \d+ req/s, p99 ")
        json.loads(asked.stdout)

    def test_the_jobs_documented_collection_and_merge(self):
        """deploy/kubernetes/load-generators.yaml as written: its container's
        command and args (against a local server, for a second), two pods
        whose stdout and stderr go to one log each as `kubectl logs` gives
        them, saved as its comment says, then its merge command."""
        with open(JOB) as f:
            text = f.read()
        parsed = subprocess.run(["/usr/bin/python3", "-c", YAML_TO_JSON, JOB], capture_output=True, timeout=60)
        self.assertEqual(parsed.returncode, 0, parsed.stderr)
        job = json.loads(parsed.stdout)
        container = job["spec"]["template"]["spec"]["containers"][0]
        argv = [*container["command"], *container["args"]]
        self.assertEqual(argv[0], "/usr/bin/echo-client")
        argv[0] = CLIENT
        argv[argv.index("echo-server")] = "127.0.0.1"
        argv[argv.index("9001")] = str(self.srv.port)
        argv[argv.index("--duration") + 1] = "1"
        comment = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
        self.assertIn('kubectl logs "$pod" > "report-${pod#pod/}.json"', comment,
                      "the collection this test reproduces is no longer the documented one")
        merge_command = next(line for line in comment if line.startswith("echo-client --merge"))

        with tempfile.TemporaryDirectory() as tmp:
            pods = []
            for pod in ("echo-load-0-x7k2p", "echo-load-1-q9m4d"):
                log = open(os.path.join(tmp, f"report-{pod}.json"), "wb")
                self.addCleanup(log.close)
                pods.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log))
            for pod in pods:
                self.assertEqual(pod.wait(60 * SLOW), 0)
            shell = re.sub(r"^echo-client", shlex.quote(CLIENT), merge_command)
            out = subprocess.run(shell, shell=True, cwd=tmp, capture_output=True, timeout=MERGE_SECONDS * SLOW)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(b"generators  2, all running at once", out.stdout)
            self.assertIn(b"200 connection(s)", out.stdout)


if __name__ == "__main__":
    unittest.main()
