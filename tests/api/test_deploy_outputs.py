#!/usr/bin/python3
"""The deployment outputs (DESIGN.md "Configuration"): the lines `imgpipe serve` prints after
"listening on", GET /api/info (from the Host the client used), and `imgpipe env` (shell and
PowerShell)."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402


def algorithm_names(server):
    return [a["name"] for a in server.get_json("/api/algorithms")["algorithms"]]


class ServeOutputsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ImgpipeServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def printed(self):
        """The start-up lines as {NAME: value}, once the last algorithm's line is in."""
        names = algorithm_names(self.server)
        last = "QUEUE_URL_" + names[-1]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = list(self.server.stdout_lines)
            if any(line.startswith(last + "=") for line in lines):
                return lines, dict(line.rstrip("\n").split("=", 1) for line in lines[1:])
            time.sleep(0.02)
        raise AssertionError(f"no {last} line in {self.server.stdout_lines}")

    def test_start_up_lines(self):
        lines, values = self.printed()
        base = self.server.base
        self.assertEqual(lines[0], f"listening on {base}\n")
        ws = "ws" + base[len("http"):]
        self.assertEqual(values["PACS_API_BASE"], base + "/pacs")
        self.assertEqual(values["API_BASE"], base + "/api")
        self.assertEqual(values["WS_ENDPOINT"], ws + "/ws")
        self.assertEqual(values["DICOMWEB_BASE"], base + "/dicomweb")
        self.assertEqual(values["RESULTS_QUEUE_URL"], base + "/api/queues/results")
        for name in algorithm_names(self.server):
            self.assertEqual(values["QUEUE_URL_" + name], f"{base}/api/queues/algo.{name}")
        self.assertIn("QUEUE_URL_processing_1", values)  # the seed's name
        for name in values:
            self.assertRegex(name, r"^[A-Za-z_][A-Za-z0-9_]*$")  # a valid shell variable

    def test_info_matches_the_printed_outputs_and_its_queue_urls_answer(self):
        _, values = self.printed()
        info = self.server.get_json("/api/info")
        self.assertEqual(info["api_base"], values["API_BASE"])
        self.assertEqual(info["pacs_api_base"], values["PACS_API_BASE"])
        self.assertEqual(info["ws_endpoint"], values["WS_ENDPOINT"])
        self.assertEqual(info["dicomweb_base"], values["DICOMWEB_BASE"])
        self.assertEqual(info["results_queue_url"], values["RESULTS_QUEUE_URL"])
        self.assertEqual(info["version"], self.server.get_json("/version")["version"])
        names = algorithm_names(self.server)
        self.assertEqual([a["name"] for a in info["algorithms"]], names)
        self.assertEqual(sorted(info["queues"]), sorted("algo." + n for n in names))
        for a in info["algorithms"]:
            self.assertEqual(a["queue"], "algo." + a["name"])
            self.assertEqual(a["queue_url"], info["queues"][a["queue"]])
            self.assertEqual(a["queue_url"], values["QUEUE_URL_" + a["name"]])
        # Every queue URL is a live resource of this server.
        for url in [info["results_queue_url"], *info["queues"].values()]:
            self.assertTrue(url.startswith(self.server.base + "/"), url)
            queue = self.server.get_json(url[len(self.server.base):])
            self.assertEqual(url.rsplit("/", 1)[1], queue["name"])
            self.assertIn("visible", queue)

    def test_info_uses_the_host_the_client_used(self):
        def info(headers):
            status, _, body = self.server.request("GET", "/api/info", headers=headers)
            self.assertEqual(status, 200, body)
            return json.loads(body)

        behind = info({"Host": "imgpipe.example.org:8443"})
        self.assertEqual(behind["api_base"], "http://imgpipe.example.org:8443/api")
        self.assertEqual(behind["ws_endpoint"], "ws://imgpipe.example.org:8443/ws")
        self.assertEqual(behind["results_queue_url"],
                         "http://imgpipe.example.org:8443/api/queues/results")
        tls = info({"Host": "imgpipe.example.org", "X-Forwarded-Proto": "https"})
        self.assertEqual(tls["pacs_api_base"], "https://imgpipe.example.org/pacs")
        self.assertEqual(tls["ws_endpoint"], "wss://imgpipe.example.org/ws")
        # A Host that is no host name falls back to the listen address.
        odd = info({"Host": "evil.example/path?x=1"})
        self.assertEqual(odd["api_base"], self.server.base + "/api")


class EnvTest(unittest.TestCase):
    def env(self, *args):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("IMGPIPE_")}
        environment["IMGPIPE_LISTEN"] = "0.0.0.0:9123"
        with tempfile.TemporaryDirectory() as cwd:  # no imgpipe.toml here
            done = subprocess.run([os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe"), "env",
                                   *args], capture_output=True, text=True, env=environment,
                                  cwd=cwd, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout.splitlines()

    def test_shell_exports(self):
        lines = self.env()
        values = {}
        for line in lines:
            m = re.fullmatch(r"export ([A-Za-z_][A-Za-z0-9_]*)=(\S+)", line)
            self.assertIsNotNone(m, line)
            values[m.group(1)] = m.group(2)
        base = "http://127.0.0.1:9123"
        self.assertEqual(values["API_BASE"], base + "/api")
        self.assertEqual(values["PACS_API_BASE"], base + "/pacs")
        self.assertEqual(values["WS_ENDPOINT"], "ws://127.0.0.1:9123/ws")
        self.assertEqual(values["RESULTS_QUEUE_URL"], base + "/api/queues/results")
        self.assertEqual(values["QUEUE_URL_window_level"], base + "/api/queues/algo.window_level")
        # What a shell makes of it.
        shell = subprocess.run(["bash", "-c", "\n".join(lines) +
                                '\necho "$API_BASE $RESULTS_QUEUE_URL $QUEUE_URL_processing_1"'],
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(shell.stdout.split(), [base + "/api", base + "/api/queues/results",
                                                base + "/api/queues/algo.processing_1"])

    def test_powershell_lines(self):
        lines = self.env("--powershell")
        values = {}
        for line in lines:
            m = re.fullmatch(r'\$Env:([A-Za-z_][A-Za-z0-9_]*) = "([^"]+)"', line)
            self.assertIsNotNone(m, line)
            values[m.group(1)] = m.group(2)
        self.assertEqual(values["API_BASE"], "http://127.0.0.1:9123/api")
        self.assertEqual(values["WS_ENDPOINT"], "ws://127.0.0.1:9123/ws")
        self.assertEqual(values["RESULTS_QUEUE_URL"], "http://127.0.0.1:9123/api/queues/results")
        self.assertIn("PACS_API_BASE", values)


if __name__ == "__main__":
    unittest.main()
