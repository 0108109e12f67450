"""The commands in README.md and docs/*.md, run as written: every fenced
block whose info string says `runnable` (```` ```sh runnable ````) runs
against the real binaries, so the docs cannot drift from what the programs
do. The convention is described in docs/testing.md ("Commands in the docs").

Each document gets a temporary working directory and a network namespace of
its own (`unshare --net`, loopback up), so the documented ports (9001, 9443,
9100) are free and nothing outside is touched. `echo-server` and
`echo-client` are first on PATH, and build/release/apps/ in the working
directory links to them, so both spellings in the docs run verbatim."""

import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import CLIENT, SERVER, SLOW, Server, deadline  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCUMENTS = ["README.md", *sorted(os.path.join("docs", name) for name in os.listdir(os.path.join(ROOT, "docs"))
                                  if name.endswith(".md"))]
FENCE = re.compile(r"^(```+)(.*)$")
# A command that starts a server in the foreground: the runner starts it in
# the background instead (scripts/run-server installs and builds first,
# which scripts/test has done already: it runs as echo-server).
SERVER_COMMAND = re.compile(r"^(echo-server|build/release/apps/echo-server|scripts/run-server)(\s|$)")
# `cmd   # prints TEXT`: TEXT must be a whole line of the command's stdout.
PRINTS = re.compile(r"#.*\bprints (.+?)\s*(?:\(.*)?$")
BLOCK_SECONDS = 30
FAILED_MARK = "docs-runner-failed"


class Block:
    """A runnable block: where it starts (the line after its fence), its
    lines, and the servers its info string asks for."""

    def __init__(self, document, line, info, lines):
        self.document = document
        self.line = line
        self.lines = lines
        words = shlex.split(info)
        self.servers = [shlex.split(w.partition("=")[2]) for w in words if w == "server" or w.startswith("server=")]

    def commands(self):
        """(first line number, text) of each logical command; a line ending
        in a backslash goes on on the next (joined into one line when run,
        so that bash's $LINENO is the command's first line)."""
        out, start, text = [], None, []
        for number, line in enumerate(self.lines, self.line):
            if start is None:
                start = number
            text.append(line)
            if not line.rstrip().endswith("\\"):
                out.append((start, "\n".join(text)))
                start, text = None, []
        if text:
            out.append((start, "\n".join(text)))
        return out


def runnable_blocks(document):
    """The runnable fenced blocks of `document`, in order."""
    blocks, inside, lines = [], None, []
    with open(os.path.join(ROOT, document), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = FENCE.match(line)
            if inside is None and m:
                inside, lines = (m.group(1), m.group(2).strip(), number + 1), []
            elif inside is not None and line.strip() == inside[0]:
                fence, info, start = inside
                words = info.split()
                if len(words) > 1 and words[0] in ("sh", "bash", "shell") and words[1] == "runnable":
                    blocks.append(Block(document, start, info, lines))
                inside = None
            elif inside is not None:
                lines.append(line)
    return blocks


class Namespace:
    """A network namespace held open by a `cat` that waits on its stdin;
    loopback is up before anything enters it."""

    def __init__(self):
        self.proc = subprocess.Popen(["unshare", "--net", "sh", "-c", "ip link set lo up && echo up && exec cat"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10 * SLOW)
        if not ready or self.proc.stdout.readline().strip() != b"up":
            self.close()
            raise AssertionError("could not make a network namespace: " + self.proc.stderr.read().decode())
        self.enter = ["nsenter", f"--net=/proc/{self.proc.pid}/ns/net"]

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


class DocumentRun:
    """One document's runnable blocks, in order, in one working directory
    and one namespace. Servers run until a later block starts servers of its
    own, or the document ends."""

    def __init__(self, test, document, top):
        self.test = test
        self.document = document
        self.top = top
        self.workdir = os.path.join(top, "work")
        self.bin = os.path.join(top, "bin")
        apps = os.path.join(self.workdir, "build", "release", "apps")
        os.makedirs(apps)
        os.makedirs(self.bin)
        for name, built in (("echo-server", SERVER), ("echo-client", CLIENT)):
            built = shutil.which(built) or built
            os.symlink(os.path.abspath(built), os.path.join(self.bin, name))
            os.symlink(os.path.abspath(built), os.path.join(apps, name))
        self.env = dict(os.environ, PATH=self.bin + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"))
        self.namespace = Namespace()
        test.addCleanup(self.namespace.close)
        self.servers = []  # (Server, line) started by the current block or an earlier one
        self.servers_block = None

    def start_server(self, block, line, args):
        """echo-server ARGS in the namespace and the working directory, in
        the background; waits (bounded) for every listener it should open."""
        if self.servers_block is not block:
            self.stop_servers()
            self.servers_block = block
        wrapper = [*self.namespace.enter, f"--wd={self.workdir}", os.path.join(self.bin, "echo-server")]
        # Started without the harness's wait, so that one that fails to
        # start is closed (and reported) here too.
        srv = Server(*args, env=self.env, wrapper=wrapper, wait_listening=False)
        self.test.addCleanup(srv.close)
        self.servers.append((srv, line))
        try:
            srv.wait_for(lambda: srv._listening_complete(args), 15, "its listening lines")
            if "--tls-port" in args:
                srv.wait_log(r"listening tls ")
            if "--metrics" in args:
                srv.wait_log(r"listening metrics ")
        except AssertionError as e:
            failure = str(e)
        else:
            return
        self.servers.pop()  # its exit is the failure reported here
        self.test.fail(f"{self.document}:{line}: echo-server {shlex.join(args)} did not start: {failure}")

    def stop_servers(self):
        """SIGTERM, a bounded wait, SIGKILL: each must stop cleanly (exit 0)."""
        servers, self.servers = self.servers, []
        failures = []
        for srv, line in servers:
            try:
                code = srv.stop(10)
            except AssertionError as e:
                failures.append(f"{self.document}:{line}: the server did not stop: {e}")
                continue
            finally:
                srv.close()
            if code != 0:
                failures.append(f"{self.document}:{line}: the server exited {code}:\n" + "\n".join(srv.lines[-20:]))
        if failures:
            self.test.fail("\n".join(failures))

    def run_block(self, block):
        for args in block.servers:
            self.start_server(block, block.line - 1, args)
        pending = []  # (line, text) run together in one shell
        for line, text in block.commands():
            words = text.split(None, 1)
            if SERVER_COMMAND.match(text.strip()) and not text.rstrip().endswith("&"):
                self.run_commands(block, pending)
                pending = []
                args = shlex.split(text.split("#")[0].replace("\\\n", " "))[1:]
                if words[0] == "scripts/run-server" and not args:
                    args = ["--tcp", "--udp", "--port", "9001"]  # its own default
                self.start_server(block, line, args)
            elif PRINTS.search(text.splitlines()[-1]):
                self.run_commands(block, pending)
                pending = []
                stdout = self.run_commands(block, [(line, text)])
                expected = PRINTS.search(text.splitlines()[-1]).group(1)
                self.test.assertIn(expected, stdout.splitlines(),
                                   f"{self.document}:{line}: `{text}` printed {stdout[-2000:]!r}, not a line {expected!r}")
            else:
                pending.append((line, text))
        self.run_commands(block, pending)

    def run_commands(self, block, commands):
        """Runs `commands` as one bash script under `set -e -o pipefail`,
        stdin /dev/null, bounded in time. The script's lines are numbered as
        in the document, so a failure names the document's line."""
        if not commands:
            return ""
        trap = f"trap 'echo \"{FAILED_MARK} $? $LINENO\" >&2' ERR"
        script = [f"set -e -o pipefail; {trap}"]
        for line, text in commands:
            script += [""] * (line - 1 - len(script))
            script.append(re.sub(r"\\\n", " ", text))
        out_path, err_path = os.path.join(self.top, "stdout"), os.path.join(self.top, "stderr")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen([*self.namespace.enter, "bash", "-c", "\n".join(script)], cwd=self.workdir,
                                    env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
            try:
                code = self.wait_reading_logs(proc)
            finally:
                # Whatever the commands left behind (a pipe's reader, a
                # background job) is in the session started for them.
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        with open(out_path, "rb") as out, open(err_path, "rb") as err:
            stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
        first = commands[0][0]
        if code is None:
            self.test.fail(f"{self.document}:{first}: the block's commands did not end within "
                           f"{BLOCK_SECONDS * SLOW} s:\n{self.listing(commands)}\nstderr:\n{stderr}")
        if code != 0:
            failed = re.search(rf"{FAILED_MARK} (\d+) (\d+)", stderr)
            where = int(failed.group(2)) if failed else first
            text = next((t for n, t in reversed(commands) if n <= where), commands[0][1])
            stderr = re.sub(rf"{FAILED_MARK} .*\n?", "", stderr)
            self.test.fail(f"{self.document}:{where}: `{text}` exited {code}\nstderr:\n{stderr}"
                           + self.server_logs())
        return stdout

    def wait_reading_logs(self, proc):
        """The commands' exit code, or None after BLOCK_SECONDS; meanwhile
        the servers' logs are read, so that a full pipe never blocks them."""
        end = deadline(BLOCK_SECONDS)
        while time.monotonic() < end:
            if proc.poll() is not None:
                return proc.returncode
            for srv, _ in self.servers:
                srv.pump(0.02)
            if not self.servers:
                try:
                    return proc.wait(0.05)
                except subprocess.TimeoutExpired:
                    pass
        return proc.poll()

    @staticmethod
    def listing(commands):
        return "\n".join(f"  {line}: {text}" for line, text in commands)

    def server_logs(self):
        return "".join(f"\nserver from line {line}:\n" + "\n".join(srv.lines[-10:]) for srv, line in self.servers)


class DocsCommands(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for tool in ("unshare", "nsenter", "ip", "bash"):
            if not shutil.which(tool):
                raise unittest.SkipTest(f"{tool} missing (scripts/deps installs util-linux and iproute2)")
        if os.geteuid() != 0:
            raise unittest.SkipTest("network namespaces need root (CI runs as root)")

    def test_the_docs_have_runnable_blocks(self):
        """The convention is in use: a typo in a marker would silently run
        nothing."""
        for document in ("README.md", "docs/tls.md", "docs/metrics.md", "docs/client.md", "docs/server.md"):
            self.assertTrue(runnable_blocks(document), f"{document} has no runnable block")

    def test_documented_commands_run(self):
        for document in DOCUMENTS:
            blocks = runnable_blocks(document)
            if not blocks:
                continue
            with self.subTest(document=document):
                self.run_document(document, blocks)

    def run_document(self, document, blocks):
        top = tempfile.mkdtemp(prefix="echo-docs-")
        self.addCleanup(shutil.rmtree, top, True)
        started = time.monotonic()
        doc = DocumentRun(self, document, top)
        try:
            for block in blocks:
                doc.run_block(block)
        finally:
            doc.stop_servers()
        print(f"{document}: {len(blocks)} runnable block(s) in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
