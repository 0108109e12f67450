"""The Debian package, built the documented way (scripts/package), checked
the way Debian checks packages, then installed into a clean Debian 12 root
(debootstrap --variant=minbase) where the installed echo-server serves TCP
and UDP and the installed echo-client's probe passes; removal and purge
leave nothing behind. Runs in the release pass only (label `system`)."""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import deadline, free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIRROR = os.environ.get("ECHO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
EXPECTED_FILES = {
    "./usr/bin/echo-server", "./usr/bin/echo-client", "./etc/echo-server/echo-server.conf",
    "./lib/systemd/system/echo-server.service", "./lib/systemd/system/echo-server.socket",
    "./usr/share/man/man1/echo-server.1.gz", "./usr/share/man/man1/echo-client.1.gz",
    "./usr/share/bash-completion/completions/echo-server", "./usr/share/bash-completion/completions/echo-client",
    "./usr/share/doc/echo-service/copyright", "./usr/share/doc/echo-service/changelog.gz",
}


def sh(*args, **kwargs):
    kwargs.setdefault("timeout", 600)
    return subprocess.run(args, capture_output=True, **kwargs)


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        out = sh(os.path.join(ROOT, "scripts", "package"), timeout=1800)
        assert out.returncode == 0, out.stderr.decode()[-3000:]
        cls.deb = out.stdout.decode().split()[-1]
        version = sh("sed", "-n", r"s/^project(echo-service VERSION \([0-9.]*\).*/\1/p",
                     os.path.join(ROOT, "CMakeLists.txt")).stdout.decode().strip()
        arch = sh("dpkg", "--print-architecture").stdout.decode().strip()
        cls.expected_name = f"echo-service_{version}_{arch}.deb"

    def test_name_contents_and_conffiles(self):
        self.assertEqual(os.path.basename(self.deb), self.expected_name)
        listing = sh("dpkg-deb", "--contents", self.deb).stdout.decode().splitlines()
        files = {line.split()[-1] for line in listing if not line.startswith("d")}
        self.assertEqual(files, EXPECTED_FILES)
        control = sh("dpkg-deb", "--info", self.deb, "conffiles").stdout.decode().split()
        self.assertEqual(control, ["/etc/echo-server/echo-server.conf"])
        depends = sh("dpkg-deb", "--field", self.deb, "Depends").stdout.decode()
        for library in ("libboost-program-options1.81.0", "libspdlog1.10", "libprometheus-cpp-core1.0",
                        "libsystemd0"):
            self.assertIn(library, depends)  # computed by dpkg-shlibdeps
        # man and bash completion need these, which a minimal Debian lacks.
        recommends = sh("dpkg-deb", "--field", self.deb, "Recommends").stdout.decode()
        self.assertEqual(recommends.strip(), "man-db, bash-completion")

    def test_lintian_finds_no_error_or_warning(self):
        out = sh("lintian", "--fail-on", "error,warning", self.deb)
        findings = [line for line in out.stdout.decode().splitlines() if line[:2] in ("E:", "W:")]
        self.assertEqual(findings, [])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_units_verify_and_security_score(self):
        with tempfile.TemporaryDirectory(prefix="echo-units-") as tmp:
            sh("dpkg-deb", "--extract", self.deb, os.path.join(tmp, "root"))
            units = []
            for unit in ("echo-server.service", "echo-server.socket"):
                # The binary is not installed on this machine: point at the extracted one.
                with open(os.path.join(tmp, "root", "lib/systemd/system", unit)) as f:
                    text = f.read().replace("/usr/bin/echo-server", os.path.join(tmp, "root/usr/bin/echo-server"))
                units.append(os.path.join(tmp, unit))
                with open(units[-1], "w") as f:
                    f.write(text)
            out = sh("systemd-analyze", "verify", "--man=no", *units)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout + out.stderr, b"", "systemd-analyze verify findings")
            out = sh("systemd-analyze", "security", "--offline=true", f"--root={tmp}/root", "echo-server.service",
                     "--no-pager")
            score = out.stdout.decode().split("Overall exposure level for echo-server.service:")[1].split()[0]
            self.assertLessEqual(float(score), 1.5, out.stdout.decode()[-500:])

    def test_install_serve_remove_purge_in_a_clean_debian_12(self):
        if not shutil.which("debootstrap"):
            self.fail("debootstrap missing: scripts/deps package installs it")
        root = tempfile.mkdtemp(prefix="echo-debian12-")
        self.addCleanup(shutil.rmtree, root, True)
        out = sh("debootstrap", "--variant=minbase", "bookworm", root, MIRROR, timeout=900)
        if out.returncode != 0:
            self.skipTest(f"debootstrap cannot run here ({MIRROR}): {out.stderr.decode()[-300:]}")
        shutil.copy(self.deb, os.path.join(root, "tmp"))
        deb = "/tmp/" + os.path.basename(self.deb)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # dpkg -i first, as a user would; the libraries it needs then come from apt.
        sh("chroot", root, "dpkg", "-i", deb, env=env)
        out = sh("chroot", root, "sh", "-c", "apt-get update -qq && apt-get install -f -y -qq --no-install-recommends",
                 env=env, timeout=900)
        self.assertEqual(out.returncode, 0, out.stderr.decode()[-2000:])
        # No systemd running in a chroot: nothing started, and the install says so and what to do.
        self.assertIn(b"systemd is not running here", out.stdout + out.stderr)
        self.assertIn(b"run it by hand: echo-server --config /etc/echo-server/echo-server.conf", out.stdout + out.stderr)
        status = sh("chroot", root, "dpkg-query", "-W", "-f=${Status}", "echo-service").stdout
        self.assertEqual(status, b"install ok installed")
        # Enabled as Debian enables units where systemd is not running.
        self.assertTrue(os.path.islink(os.path.join(root, "etc/systemd/system/sockets.target.wants/echo-server.socket")))

        # The shipped configuration names its own path, and the notice's command uses it.
        with open(os.path.join(root, "etc/echo-server/echo-server.conf")) as f:
            self.assertIn("--config /etc/echo-server/echo-server.conf", f.read())
        port = free_port("127.0.0.1")
        server = subprocess.Popen(["chroot", root, "/usr/bin/echo-server", "--config",
                                   "/etc/echo-server/echo-server.conf", "--bind", "127.0.0.1", "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            end = deadline(10)
            while not listening(port):
                self.assertLess(time.monotonic(), end, "the installed server did not listen")
                time.sleep(0.05)
            for proto in ("--tcp", "--udp"):
                out = sh("chroot", root, "/usr/bin/echo-client", proto, "127.0.0.1", str(port), "-m", "installed",
                         "--check", timeout=30)
                self.assertEqual((out.returncode, out.stdout), (0, b"installed\n"), out.stderr)
        finally:
            server.terminate()
            server.wait(15)
        self.assertEqual(server.returncode, 0)
        self.assertTrue(os.path.exists(os.path.join(root, "usr/share/man/man1/echo-server.1.gz")))

        def leftovers():
            found = []
            for pattern in ("**/*echo-server*", "**/*echo-client*", "**/echo-service*"):
                found += [p for p in glob.glob(os.path.join(root, pattern), recursive=True)
                          if not p.startswith(os.path.join(root, "tmp"))]
            return sorted(set(found))

        self.assertEqual(sh("chroot", root, "dpkg", "--remove", "echo-service", env=env).returncode, 0)
        left = leftovers()
        self.assertFalse([p for p in left if "/usr/" in p], left)  # programs, man pages, completions gone
        self.assertIn(os.path.join(root, "etc/echo-server/echo-server.conf"), left)  # a conffile stays until purge
        self.assertEqual(sh("chroot", root, "dpkg", "--purge", "echo-service", env=env).returncode, 0)
        self.assertEqual(leftovers(), [])


if __name__ == "__main__":
    unittest.main()
