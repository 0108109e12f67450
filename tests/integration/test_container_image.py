"""The container image as scripts/image builds it (deploy/container/Containerfile
and the package from scripts/package), with podman and no container
registry: the base image `debian:12-slim` is made here with debootstrap
(minbase, Debian's sources as in the real image) and imported under the name
the Containerfile's FROM resolves to. The image runs as the Containerfile
says (user 65534, read-only root filesystem, no capability), serves echo over
TCP and UDP through published ports and /healthz on its metrics port, takes
arguments after its ENTRYPOINT, and stops cleanly on SIGTERM.

podman runs with a private configuration and store (CONTAINERS_CONF and
CONTAINERS_STORAGE_CONF in a temporary directory), so that the machine's own
images, in particular a real docker.io/library/debian:12-slim, are neither
used nor replaced. The configuration asks for runc where it is installed
(crun 1.8 refuses a host with cgroup v1 and v2 mixed) and for no more open
files and processes than may be set here (podman's defaults for a root
container need CAP_SYS_RESOURCE). The base root file system is kept in
build/ (ECHO_BASE_ROOTFS_TAR to choose the place), so debootstrap runs once.

The package's dependencies come from Debian's archive during the build
(`apt-get update` in the Containerfile), as for scripts/package.
"""

import glob
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import uuid

import re

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import SLOW, tcp_echo  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIRROR = os.environ.get("ECHO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_ROOTFS_TAR = os.environ.get("ECHO_BASE_ROOTFS_TAR",
                                 os.path.join(ROOT, "build", "container-base", "bookworm-minbase.tar"))

DEBIAN_SOURCES = """\
Types: deb
URIs: {mirror}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def sh(*args, timeout=600, check=True, **kwargs):
    out = subprocess.run(args, capture_output=True, timeout=timeout * SLOW, **kwargs)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {out.returncode}:\n"
                             f"{out.stdout.decode(errors='replace')[-2000:]}\n"
                             f"{out.stderr.decode(errors='replace')[-4000:]}")
    return out


def free_port():
    """A port free for both TCP and UDP on all IPv4 addresses a moment ago
    (podman publishes a fixed host port: it cannot take 0 and say which)."""
    for _ in range(50):
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("0.0.0.0", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both TCP and UDP")


class ContainerImage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("needs root (rootful podman, debootstrap)")
        for tool in ("podman", "debootstrap"):
            if not shutil.which(tool):
                raise AssertionError(f"{tool} missing: scripts/deps container installs it")
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            version = re.search(r"^project\(echo-service VERSION ([0-9.]+)", f.read(), re.M).group(1)
        cls.tag = f"localhost/echo-server:{version}"  # what scripts/image tags
        cls.tmp = tempfile.mkdtemp(prefix="echo-image-")
        cls.containers = []
        try:
            cls._configure()
            cls._base_image(BASE_ROOTFS_TAR)
            cls._build()
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls._cleanup()

    # -- setup -------------------------------------------------------------

    @classmethod
    def _configure(cls):
        """A private containers.conf and store. rlimits: podman's defaults
        for a root container (nofile 1048576, nproc 4194304) exceed what a
        process without CAP_SYS_RESOURCE may set, and podman lowers its own
        nproc to 32768 before starting the runtime, so ask for no more than
        the limits in force here."""
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nofile = 1048576 if nofile == resource.RLIM_INFINITY else min(nofile, 1048576)
        nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc, 32768)
        runtime = os.environ.get("ECHO_PODMAN_RUNTIME") or ("runc" if shutil.which("runc") else "")
        conf = os.path.join(cls.tmp, "containers.conf")
        with open(conf, "w") as f:
            f.write("[containers]\n"
                    f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
                    "[engine]\n"
                    'cgroup_manager = "cgroupfs"\n'  # no systemd as PID 1 needed
                    'events_logger = "file"\n'       # nor journald
                    + (f'runtime = "{runtime}"\n' if runtime else ""))
        storage = os.path.join(cls.tmp, "storage.conf")
        with open(storage, "w") as f:
            f.write("[storage]\n"
                    f'driver = "{os.environ.get("ECHO_PODMAN_STORAGE_DRIVER", "overlay")}"\n'
                    f'graphroot = "{os.path.join(cls.tmp, "storage")}"\n'
                    f'runroot = "{os.path.join(cls.tmp, "run")}"\n')
        cls.env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_STORAGE_CONF=storage)
        cls.podman_cmd = ["podman"]

    @classmethod
    def podman(cls, *args, timeout=120, check=True, **kwargs):
        return sh(*cls.podman_cmd, *args, timeout=timeout, check=check, env=cls.env, **kwargs)

    @classmethod
    def _base_image(cls, rootfs_tar):
        """debian:12-slim from debootstrap, named so that FROM debian:12-slim
        (short name, docker.io/library per registries.conf.d/shortnames.conf)
        is found in the store and never pulled."""
        if not os.path.isfile(rootfs_tar):
            rootfs = os.path.join(cls.tmp, "rootfs")
            sh("debootstrap", "--variant=minbase", "bookworm", rootfs, MIRROR, timeout=1800)
            os.remove(os.path.join(rootfs, "etc/apt/sources.list"))
            with open(os.path.join(rootfs, "etc/apt/sources.list.d/debian.sources"), "w") as f:
                f.write(DEBIAN_SOURCES.format(mirror=MIRROR))
            # What debian:12-slim does not carry: downloaded packages and lists.
            for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
                for path in glob.glob(os.path.join(rootfs, pattern)):
                    if os.path.isfile(path):
                        os.remove(path)
            os.makedirs(os.path.dirname(rootfs_tar), exist_ok=True)
            keep = rootfs_tar + ".part"  # whole or not at all
            sh("tar", "--numeric-owner", "-C", rootfs, "-cf", keep, ".", timeout=600)
            shutil.rmtree(rootfs)
            os.replace(keep, rootfs_tar)
        with open(rootfs_tar, "rb") as f:
            cls.podman("import", "--change", 'CMD ["bash"]', "-", "docker.io/library/debian:12-slim",
                       stdin=f, timeout=600)

    @classmethod
    def _build(cls):
        """scripts/image, as a user runs it: the package, then the image."""
        out = sh(os.path.join(ROOT, "scripts", "image"), timeout=1800, env=cls.env, cwd=ROOT)
        assert out.stdout.decode().split()[-1] == cls.tag.removeprefix("localhost/"), out.stdout

    @classmethod
    def _cleanup(cls):
        for name in cls.containers:
            cls.podman("rm", "-f", "-t", "0", name, check=False, timeout=60)
        if hasattr(cls, "podman_cmd"):
            cls.podman("rmi", "-a", "-f", check=False, timeout=120)
        # Storage mounts left under the private store would keep rm -rf out.
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for mount in reversed(mounts):
            if mount.startswith(cls.tmp + "/"):
                subprocess.run(["umount", "-l", mount], capture_output=True, timeout=30)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- helpers -----------------------------------------------------------

    def run_server(self, *args, extra=()):
        """The image in the background (detached) with its ports published
        on free loopback ports; returns (name, echo port, metrics port)."""
        name = f"echo-test-{uuid.uuid4().hex[:10]}"
        port, metrics = free_port(), free_port()
        type(self).containers.append(name)
        self.podman("run", "-d", "--name", name, "--pull=never",
                    "-p", f"127.0.0.1:{port}:9001/tcp", "-p", f"127.0.0.1:{port}:9001/udp",
                    "-p", f"127.0.0.1:{metrics}:9100/tcp", *extra, self.tag, *args, timeout=120)
        self.wait_healthy(name, metrics)
        return name, port, metrics

    def wait_healthy(self, name, metrics):
        end = time.monotonic() + 30 * SLOW
        error = None
        while time.monotonic() < end:
            state = self.podman("inspect", "--format", "{{.State.Status}}", name, timeout=30).stdout.decode().strip()
            if state not in ("created", "running"):
                logs = self.podman("logs", name, check=False, timeout=30)
                self.fail(f"container {state}: {logs.stdout.decode()}{logs.stderr.decode()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return r.read()
            except OSError as e:
                error = e
            time.sleep(0.2)
        logs = self.podman("logs", name, check=False, timeout=30)
        self.fail(f"no /healthz within 30 s ({error}): {logs.stdout.decode()}{logs.stderr.decode()}")

    def udp_echo(self, port, payload):
        # Published UDP goes through NAT: the first datagram may race the
        # server's start, so a few tries.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1 * SLOW)
            for _ in range(5):
                s.sendto(payload, ("127.0.0.1", port))
                try:
                    return s.recvfrom(65536)[0]
                except socket.timeout:
                    continue
        return None

    # -- tests ---------------------------------------------------------------

    def test_image_config(self):
        config = json.loads(self.podman("image", "inspect", self.tag, timeout=60).stdout)[0]["Config"]
        self.assertEqual(config["User"], "65534:65534")
        self.assertEqual(config["Entrypoint"][0], "/usr/bin/echo-server")
        self.assertLessEqual({"9001/tcp", "9001/udp", "9100/tcp"}, set(config["ExposedPorts"]))
        # Installed by dpkg, the package file itself gone.
        out = self.podman("run", "--rm", "--pull=never", "--entrypoint", "sh", self.tag, "-c",
                          "dpkg-query -W -f='${Status}' echo-service; ls /tmp; ls /var/lib/apt/lists",
                          timeout=120).stdout.decode()
        self.assertTrue(out.startswith("install ok installed"), out)
        self.assertNotIn(".deb", out)

    def test_serves_tcp_udp_and_healthz_read_only_without_capabilities(self):
        name, port, metrics = self.run_server(extra=("--read-only", "--cap-drop", "all"))
        self.assertEqual(tcp_echo(port, b"hello over tcp\n"), b"hello over tcp\n")
        self.assertEqual(self.udp_echo(port, b"hello over udp"), b"hello over udp")
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5 * SLOW) as r:
            self.assertEqual(r.status, 200)
        top = self.podman("top", name, "user", "comm", timeout=30).stdout.decode().split()
        self.assertIn("echo-server", top)
        self.assertNotIn("root", top)

    def test_arguments_are_added_to_the_entrypoint(self):
        # An argument given to the container takes effect (log level here),
        # and the server still serves with the image's defaults.
        name, port, _ = self.run_server("--log-level", "debug")
        self.assertEqual(tcp_echo(port, b"x" * 100000), b"x" * 100000)

    def test_stops_cleanly_on_sigterm(self):
        name, port, _ = self.run_server()
        started = time.monotonic()
        self.podman("stop", "-t", "25", name, timeout=60)
        self.assertLess(time.monotonic() - started, 20 * SLOW)  # not killed at the end of -t
        code = self.podman("inspect", "--format", "{{.State.ExitCode}}", name, timeout=30).stdout.decode().strip()
        self.assertEqual(code, "0", self.podman("logs", name, check=False, timeout=30).stderr.decode())


if __name__ == "__main__":
    unittest.main()
