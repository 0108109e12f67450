"""The Kubernetes manifests and the container file in deploy/. The YAML must
parse and say what the SPEC asks (ports, probes, grace period, non-root,
read-only root, no capabilities, the Service's TCP and UDP ports, the
disruption budget, the Indexed Job of load generators, one image tag: the
project's version). And every container in them is composed as a container
runtime composes it (the Containerfile's ENTRYPOINT, CMD and ENV, then the
manifest's command, args and env) and run with the real binaries in a
network namespace of its own, on the ports the manifest gives: the server
must serve TCP and UDP echo there and answer its probes' paths on its
probes' ports, and the load generator must run against it."""

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import CLIENT, SERVER, SLOW, Server, needs_root, run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Debian's interpreter with python3-yaml (scripts/deps installs it).
YAML_TO_JSON = "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"


def load_all(path):
    out = subprocess.run(["/usr/bin/python3", "-c", YAML_TO_JSON, os.path.join(ROOT, path)], capture_output=True)
    assert out.returncode == 0, out.stderr.decode()
    return [doc for doc in json.loads(out.stdout) if doc]


def load(path):
    return {doc["kind"]: doc for doc in load_all(path)}


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"^project\(echo-service VERSION ([0-9.]+)", f.read(), re.M).group(1)


def containerfile():
    """What the image gives a container: ENTRYPOINT, CMD (exec form) and
    ENV, from deploy/container/Containerfile."""
    with open(os.path.join(ROOT, "deploy/container/Containerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())  # continuation lines
    image = {"from": None, "user": None, "entrypoint": [], "cmd": [], "env": {}}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word in ("ENTRYPOINT", "CMD"):
            image[word.lower()] = json.loads(rest)  # the exec form: no shell in between
        elif word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                image["env"][key] = value
        elif word in ("FROM", "USER"):
            image[word.lower()] = rest.strip()
    return image


def containers():
    """(manifest, kind, pod spec, container) for every container in deploy/kubernetes."""
    for path in sorted(glob.glob(os.path.join(ROOT, "deploy/kubernetes/*.yaml"))):
        for doc in load_all(path):
            pod = doc.get("spec", {}).get("template", {}).get("spec")
            for container in (pod or {}).get("containers", []):
                yield os.path.basename(path), doc["kind"], pod, container


def composed(container, image):
    """argv and environment as a container runtime (and Kubernetes) makes
    them: `command` replaces the ENTRYPOINT (and drops the image's CMD),
    `args` replace the CMD; the manifest's env is added to the image's."""
    if "command" in container:
        argv = container["command"] + container.get("args", [])
    else:
        argv = image["entrypoint"] + container.get("args", image["cmd"])
    env = dict(image["env"])
    env.update({e["name"]: e["value"] for e in container.get("env", [])})
    return argv, env


def seconds_flag(args, name):
    return float(args[args.index(name) + 1])


def replaced(args, name, value):
    args = list(args)
    args[args.index(name) + 1] = value
    return args


def serves_with(test, args, env):
    """The real server starts with these arguments and environment (its
    metrics moved to a free loopback port, its echo port to an OS-chosen
    one) and stops cleanly."""
    env = dict(env, ECHO_SERVER_METRICS="127.0.0.1:0")
    srv = Server(*args, "--port", "0", "--bind", "127.0.0.1", env=env)
    test.addCleanup(srv.close)
    srv.wait_log(r"listening metrics http://")
    test.assertEqual(srv.stop(), 0)
    return srv


class Manifests(unittest.TestCase):
    def test_deployment_service_and_budget(self):
        docs = load("deploy/kubernetes/echo-server.yaml")
        self.assertEqual(set(docs), {"Deployment", "Service", "PodDisruptionBudget"})
        pod = docs["Deployment"]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        ports = {(p["name"], p["containerPort"], p["protocol"]) for p in container["ports"]}
        self.assertEqual(ports, {("echo-tcp", 9001, "TCP"), ("echo-udp", 9001, "UDP"), ("metrics", 9100, "TCP")})
        self.assertEqual(container["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "metrics"})
        self.assertEqual(container["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "metrics"})
        args = container["args"]
        self.assertEqual(args[args.index("--metrics") + 1].rsplit(":", 1)[1], "9100")
        self.assertGreater(pod["terminationGracePeriodSeconds"], seconds_flag(args, "--shutdown-timeout"))
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertNotEqual(pod["securityContext"]["runAsUser"], 0)
        self.assertTrue(container["securityContext"]["readOnlyRootFilesystem"])
        self.assertFalse(container["securityContext"]["allowPrivilegeEscalation"])
        self.assertEqual(container["securityContext"]["capabilities"]["drop"], ["ALL"])
        service = {(p["port"], p["protocol"]) for p in docs["Service"]["spec"]["ports"]}
        self.assertLessEqual({(9001, "TCP"), (9001, "UDP")}, service)
        labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
        self.assertEqual(docs["Service"]["spec"]["selector"], labels)
        self.assertEqual(docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"], labels)
        self.assertLess(docs["PodDisruptionBudget"]["spec"]["minAvailable"], docs["Deployment"]["spec"]["replicas"])

    def test_load_generator_job(self):
        job = load("deploy/kubernetes/load-generators.yaml")["Job"]
        self.assertEqual(job["spec"]["completionMode"], "Indexed")
        self.assertEqual(job["spec"]["completions"], job["spec"]["parallelism"])
        container = job["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(container["command"], ["/usr/bin/echo-client"])
        args = container["args"]
        self.assertIn("--bench", args)
        self.assertIn("--json", args)
        self.assertEqual(args[:2], ["echo-server", "9001"])  # the Service, by name
        self.assertTrue(container["securityContext"]["readOnlyRootFilesystem"])
        # The real client runs them against a real server, shortened.
        srv = Server("--port", "0", "--bind", "127.0.0.1")
        self.addCleanup(srv.close)
        out = run([CLIENT, "127.0.0.1", str(srv.port), *replaced(args[2:], "--duration", "0.5")], timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["mismatches"], 0)

    def test_container_file(self):
        image = containerfile()
        self.assertTrue(image["from"].startswith("debian:12"))
        self.assertNotIn(image["user"].split(":")[0], ("0", "root"))
        self.assertEqual(image["entrypoint"][0], "/usr/bin/echo-server")
        # With no arguments at all (`podman run IMAGE`), it serves as documented.
        serves_with(self, image["entrypoint"][1:] + image["cmd"], image["env"])

    def test_one_image_tag_the_projects_version(self):
        version = project_version()
        images = {container["image"] for _, _, _, container in containers()}
        self.assertEqual(images, {f"echo-server:{version}"})
        with open(os.path.join(ROOT, "scripts/image")) as f:
            self.assertIn("tag=echo-server:$version", f.read())
        with open(os.path.join(ROOT, "deploy/container/Containerfile")) as f:
            self.assertIn(f"echo-server:{version}", f.read())



@needs_root("gives each composed pod a network namespace, to run on the manifest's own ports")
class ComposedAsARuntimeWould(unittest.TestCase):
    """Each container of deploy/kubernetes as the kubelet would start it, in a
    fresh network namespace (so that the manifest's ports are free), with
    only the environment the container would have, as the manifest's user."""

    @classmethod
    def setUpClass(cls):
        # The binaries where the pods' user (65534) may run them, as the
        # image has them in /usr/bin: a build tree may sit under a home
        # directory that only root can enter.
        cls.bin = tempfile.mkdtemp(prefix="echo-pod-")
        os.chmod(cls.bin, 0o755)
        cls.binaries = {}
        for path, built in (("/usr/bin/echo-server", SERVER), ("/usr/bin/echo-client", CLIENT)):
            cls.binaries[path] = shutil.copy(built, os.path.join(cls.bin, os.path.basename(path)))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.bin)

    def setUp(self):
        for tool in ("unshare", "nsenter", "ip", "setpriv"):
            self.assertTrue(shutil.which(tool), f"{tool} missing (scripts/deps installs util-linux and iproute2)")
        self.image = containerfile()

    def as_container(self, pod, container):
        """(argv, the command that runs argv[0] as the container would: only
        the container's environment, as the pod's user)."""
        argv, env = composed(container, self.image)
        self.assertIn(argv[0], self.binaries, f"{container['name']} runs {argv[0]}, not one of ours")
        user = pod.get("securityContext", {})
        uid = user.get("runAsUser", 0)
        return argv, ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", *(f"{k}={v}" for k, v in env.items()),
                      "setpriv", f"--reuid={uid}", f"--regid={user.get('runAsGroup', uid)}", "--clear-groups",
                      self.binaries[argv[0]]]

    def start_pod(self, pod, container):
        argv, run_as = self.as_container(pod, container)
        setup = 'ip link set lo up && exec "$@"'
        return argv, ["unshare", "--net", "sh", "-c", setup, "sh", *run_as]

    def in_pod(self, srv, *argv, timeout=30):
        return subprocess.run(["nsenter", f"--net=/proc/{srv.proc.pid}/ns/net", *argv], capture_output=True,
                              timeout=timeout * SLOW)

    def port_of(self, container, port):
        if isinstance(port, int):
            return port
        return next(p["containerPort"] for p in container["ports"] if p["name"] == port)

    def test_the_deployment_serves_echo_and_answers_its_probes(self):
        servers = [(m, k, pod, c) for m, k, pod, c in containers() if composed(c, self.image)[0][0].endswith("server")]
        self.assertTrue(servers, "no echo-server container in deploy/kubernetes")
        for manifest, kind, pod, container in servers:
            with self.subTest(f"{manifest} {kind} {container['name']}"):
                argv, wrapper = self.start_pod(pod, container)
                srv = Server(*argv[1:], wrapper=wrapper)
                self.addCleanup(srv.close)
                for port in container["ports"]:
                    if port["name"] == "metrics":
                        continue
                    proto = ["--udp"] if port["protocol"] == "UDP" else []
                    out = self.in_pod(srv, CLIENT, *proto, "127.0.0.1", str(port["containerPort"]), "-m", "hello",
                                      "--check", "--timeout", "5")
                    self.assertEqual(out.returncode, 0, (port, out.stderr, srv.lines[-20:]))
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    if probe not in container:
                        continue
                    get = container[probe]["httpGet"]
                    url = f"http://127.0.0.1:{self.port_of(container, get['port'])}{get['path']}"
                    out = self.in_pod(srv, sys.executable, "-c", HTTP_GET, url)
                    self.assertEqual(out.stdout.decode().strip(), "200", (probe, url, out.stderr))
                for other in self.load_generators():
                    self.run_load_generator(srv, other)
                self.assertEqual(srv.stop(), 0)
                self.assertFalse([line for line in srv.lines if "[error]" in line or '"error"' in line], srv.lines)

    def load_generators(self):
        return [(pod, c) for _, _, pod, c in containers() if composed(c, self.image)[0][0].endswith("client")]

    def run_load_generator(self, srv, generator):
        """The Job's pod against the Deployment's, in the Deployment's
        namespace: the Service's name is the server's address there (the
        cluster's DNS), and the run is shortened to half a second."""
        pod, container = generator
        argv, run_as = self.as_container(pod, container)
        self.assertEqual(argv[1], "echo-server", "the load generator's first argument is no longer the Service")
        args = [a if a != "echo-server" else "127.0.0.1" for a in argv[1:]]
        args = replaced(args, "--duration", "0.5")
        out = self.in_pod(srv, *run_as, *args, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout)
        self.assertEqual((report["errors"], report["mismatches"]), (0, 0), report)
        self.assertGreater(report["requests"], 0)


# Prints the HTTP status of a GET, within 1 s (a probe's bound here).
HTTP_GET = """
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=1).status)
except urllib.error.HTTPError as e:
    print(e.code)
"""


if __name__ == "__main__":
    unittest.main()
