"""The Kubernetes manifests and the container file in deploy/, checked
offline: nothing here runs a cluster or builds an image. The YAML must parse
and say what the SPEC asks (ports, probes, grace period, non-root,
read-only root, no capabilities, the Service's TCP and UDP ports, the
disruption budget, the Indexed Job of load generators), and every echo-server
and echo-client argument in them must be accepted by the real binaries."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import CLIENT, Server, run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Debian's interpreter with python3-yaml (scripts/deps installs it).
YAML_TO_JSON = "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))"


def load(path):
    out = subprocess.run(["/usr/bin/python3", "-c", YAML_TO_JSON, os.path.join(ROOT, path)], capture_output=True)
    assert out.returncode == 0, out.stderr.decode()
    return {doc["kind"]: doc for doc in json.loads(out.stdout)}


def seconds_flag(args, name):
    return float(args[args.index(name) + 1])


def replaced(args, name, value):
    args = list(args)
    args[args.index(name) + 1] = value
    return args


def serves_with(test, args):
    """The real server starts with these arguments (its metrics moved to a
    free loopback port, its echo port to an OS-chosen one) and stops cleanly."""
    srv = Server(*replaced(args, "--metrics", "127.0.0.1:0"), "--port", "0", "--bind", "127.0.0.1")
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
        serves_with(self, args)

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
        with open(os.path.join(ROOT, "deploy/container/Containerfile")) as f:
            lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        self.assertTrue(lines[0].startswith("FROM debian:12"))
        user = next(line for line in lines if line.startswith("USER "))
        self.assertNotIn(user.split()[1].split(":")[0], ("0", "root"))
        entry = json.loads(next(line for line in lines if line.startswith("ENTRYPOINT "))[len("ENTRYPOINT "):])
        self.assertEqual(entry[0], "/usr/bin/echo-server")
        serves_with(self, entry[1:])


if __name__ == "__main__":
    unittest.main()
