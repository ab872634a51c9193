#!/usr/bin/python3
"""The command-line client (imgpipe provision | process | jobs | queues) against a live
`imgpipe serve --demo`: its output, --json, --output, progress, the WebSocket's reconnect and
polling fallback, and its exit codes (0 ok, 1 job failed, 2 usage, 3 refused, 4 unreachable)."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402

BIN = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
PNG = b"\x89PNG\r\n\x1a\n"


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def demo_ct(server):
    """(study, series, [image ids]) of the demo CT series."""
    studies = server.get_json("/pacs/studies?ModalitiesInStudy=CT")["studies"]
    study = server.get_json(f"/pacs/studies/{studies[0]['study_id']}")
    series = [x for x in study["series"] if x["modality"] == "CT"][0]
    detail = server.get_json(f"/pacs/studies/{study['study_id']}/series/{series['series_id']}")
    return study["study_id"], series["series_id"], [i["image_id"] for i in detail["images"]]


class DroppingProxy:
    """A TCP proxy to `port` that cuts its FIRST connection right after passing on the server's
    hello (a WebSocket that drops); later connections pass untouched. Records each request's
    first line."""

    def __init__(self, port):
        self.upstream = port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.request_lines = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            first = len(self.request_lines) == 0
            self.request_lines.append(None)
            index = len(self.request_lines) - 1
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump_up, args=(client, upstream, index),
                             daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client, first),
                             daemon=True).start()

    def _pump_up(self, src, dst, index):
        seen = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.request_lines[index] is None:
                    seen += data
                    if b"\r\n" in seen:
                        self.request_lines[index] = seen.split(b"\r\n")[0].decode()
                dst.sendall(data)
        except OSError:
            pass
        self._close_both(src, dst)

    @staticmethod
    def _close_both(*sockets):
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _pump_down(self, src, dst, cut_after_hello):
        seen = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                seen += data
                if cut_after_hello and b'"hello"' in seen:
                    break
        except OSError:
            pass
        self._close_both(src, dst)

    def close(self):
        self.listener.close()


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ImgpipeServer("--demo")
        cls.study, cls.series, cls.images = demo_ct(cls.server)
        cls.image = cls.images[len(cls.images) // 2]
        cls.tmp = tempfile.mkdtemp(prefix="imgpipe-cli-")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_cli(self, *args, env=None, timeout=180):
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith("IMGPIPE_") or k == "IMGPIPE_BIN"}
        base = self.server.base
        environment.update({"API_BASE": base + "/api", "PACS_API_BASE": base + "/pacs",
                            "WS_ENDPOINT": "ws" + base[len("http"):] + "/ws"})
        environment.update(env or {})
        for k, v in list(environment.items()):
            if v is None:
                del environment[k]
        return subprocess.run([BIN, *args], capture_output=True, text=True, env=environment,
                              cwd=self.tmp, timeout=timeout)

    def provision(self):
        done = self.run_cli("provision")
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout.strip()

    def image_args(self):
        return ["--study", self.study, "--series", self.series, "--image", self.image]

    def assert_clean_failure(self, done, code):
        self.assertEqual(done.returncode, code, (done.stdout, done.stderr))
        self.assertNotIn("Traceback", done.stderr)
        self.assertNotIn("terminate called", done.stderr)
        self.assertTrue(done.stderr.startswith("imgpipe: "), done.stderr)

    # --- provision ---------------------------------------------------------------------------

    def test_provision_prints_a_working_client_id(self):
        client = self.provision()
        self.assertRegex(client, r"^[A-Za-z0-9_-]{16,}$")
        self.assertEqual(self.server.get_json(f"/api/jobs?client_id={client}"), {"jobs": []})
        done = self.run_cli("provision", "--json")
        self.assertEqual(done.returncode, 0, done.stderr)
        reply = json.loads(done.stdout)
        self.assertEqual(list(reply), ["client_id"])
        self.assertNotEqual(reply["client_id"], client)

    # --- process -----------------------------------------------------------------------------

    def test_process_json_prints_the_result_event_only(self):
        client = self.provision()
        done = self.run_cli("process", "window_level", *self.image_args(), "--client-id", client,
                            "--param", "center=40", "--param", "width=400", "--json")
        self.assertEqual(done.returncode, 0, done.stderr)
        result = json.loads(done.stdout)  # nothing else on stdout
        self.assertEqual(result["type"], "result")
        self.assertEqual(result["status"], "succeeded")
        jobs = self.server.get_json(f"/api/jobs?client_id={client}")["jobs"]
        self.assertEqual([j["job_id"] for j in jobs], [result["job_id"]])
        self.assertEqual(jobs[0]["params"], {"center": 40, "width": 400})  # numbers, not text
        self.assertIn("image", result["outputs"])

    def test_process_output_downloads_every_output(self):
        out = os.path.join(self.tmp, "outputs")
        done = self.run_cli("process", "window_level", *self.image_args(), "--output", out,
                            env={"IMGPIPE_CLIENT_ID": self.provision()})
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertNotIn("provisioned", done.stderr)  # IMGPIPE_CLIENT_ID was used
        self.assertRegex(done.stdout, r"job [0-9a-f-]+: succeeded \(window_level")
        with open(os.path.join(out, "image.png"), "rb") as f:
            self.assertEqual(f.read(8), PNG)
        with open(os.path.join(out, "result.dcm"), "rb") as f:
            self.assertEqual(f.read(132)[128:], b"DICM")

    def test_process_without_a_client_id_provisions_one(self):
        done = self.run_cli("process", "window_level", *self.image_args(), "--json")
        self.assertEqual(done.returncode, 0, done.stderr)
        m = re.search(r"provisioned client (\S+)", done.stderr)
        self.assertIsNotNone(m, done.stderr)
        result = json.loads(done.stdout)
        jobs = self.server.get_json(f"/api/jobs?client_id={m.group(1)}")["jobs"]
        self.assertEqual([j["job_id"] for j in jobs], [result["job_id"]])

    def test_series_job_shows_progress_then_one_result_and_is_listed(self):
        client = self.provision()
        out = os.path.join(self.tmp, "series-outputs")
        done = self.run_cli("process", "window_level", "--study", self.study, "--series",
                            self.series, "--scope", "series", "--client-id", client, "--json",
                            "--output", out)
        self.assertEqual(done.returncode, 0, done.stderr)
        result = json.loads(done.stdout)
        self.assertEqual(result["status"], "succeeded")
        progress = re.findall(r"^progress: (\d+)/(\d+)$", done.stderr, re.M)
        self.assertTrue(progress, done.stderr)  # stderr is no terminal: plain lines
        total = len(self.images)
        self.assertTrue(all(int(t) == total for _, t in progress), progress)
        self.assertEqual([int(d) for d, _ in progress], sorted(int(d) for d, _ in progress))
        # Outputs keep their place under the job ("1/image.png"), the manifest beside them.
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertEqual(len(json.load(f)["images"]), total)
        for name, url in result["outputs"].items():
            local = url.split("/results/" + result["job_id"] + "/", 1)[1]
            self.assertTrue(os.path.isfile(os.path.join(out, local)), (name, local))

        listed = self.run_cli("jobs", "--client-id", client)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        header, *rows = listed.stdout.splitlines()
        self.assertEqual(header.split()[:4], ["JOB", "ALGORITHM", "SCOPE", "STATUS"])
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0].split()[:5], [result["job_id"], "window_level", "series",
                                               "succeeded", f"{total}/{total}"])
        as_json = self.run_cli("jobs", "--client-id", client, "--json", "--status", "succeeded")
        self.assertEqual([j["job_id"] for j in json.loads(as_json.stdout)["jobs"]],
                         [result["job_id"]])

    def test_websocket_drop_reconnects_and_the_result_is_not_lost(self):
        proxy = DroppingProxy(self.server.port)
        try:
            done = self.run_cli("process", "window_level", *self.image_args(), "--json",
                                env={"WS_ENDPOINT": f"ws://127.0.0.1:{proxy.port}/ws"})
        finally:
            proxy.close()
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(json.loads(done.stdout)["status"], "succeeded")
        self.assertIn("reconnecting", done.stderr)
        self.assertGreaterEqual(len(proxy.request_lines), 2, proxy.request_lines)
        self.assertNotIn("last_seq=", proxy.request_lines[0])
        self.assertRegex(proxy.request_lines[1], r"[?&]last_seq=\d+")

    def test_without_a_websocket_the_client_polls(self):
        done = self.run_cli("process", "window_level", *self.image_args(), "--json",
                            env={"WS_ENDPOINT": f"ws://127.0.0.1:{closed_port()}/ws"})
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("polling", done.stderr)
        self.assertEqual(json.loads(done.stdout)["status"], "succeeded")

    # --- queues ------------------------------------------------------------------------------

    def test_queues_lists_results_and_the_algorithm_queues(self):
        self.run_cli("process", "window_level", *self.image_args(), "--json")
        done = self.run_cli("queues")
        self.assertEqual(done.returncode, 0, done.stderr)
        header, *rows = done.stdout.splitlines()
        self.assertEqual(header.split()[0], "QUEUE")
        self.assertIn("DLQ", header)
        names = [r.split()[0] for r in rows]
        self.assertIn("results", names)
        self.assertIn("algo.window_level", names)
        as_json = json.loads(self.run_cli("queues", "--json").stdout)
        self.assertIn("results", [q["name"] for q in as_json["queues"]])

    # --- errors and exit codes ---------------------------------------------------------------

    def test_unknown_algorithm_is_refused_with_the_servers_message(self):
        client = self.provision()
        status, _, body = self.server.request(
            "POST", "/api/process/no_such_algorithm",
            json.dumps({"study_id": self.study, "series_id": self.series, "image_id": self.image,
                        "scope": "image", "client_id": client}).encode(),
            {"Content-Type": "application/json"})
        self.assertGreaterEqual(status, 400)
        message = json.loads(body)["error"]["message"]
        done = self.run_cli("process", "no_such_algorithm", *self.image_args(),
                            "--client-id", client)
        self.assert_clean_failure(done, 3)
        self.assertIn(message, done.stderr)
        self.assertEqual(done.stdout, "")

    def test_usage_errors_name_the_flag(self):
        done = self.run_cli("process", "window_level", "--series", self.series, "--image",
                            self.image)
        self.assert_clean_failure(done, 2)
        self.assertIn("--study", done.stderr)
        for args, word in ((["process", "--study", "s"], "ALGORITHM"),
                           (["process", "window_level", *self.image_args(), "--scope", "x"],
                            "--scope"),
                           (["process", "window_level", *self.image_args(), "--param", "x"],
                            "--param"),
                           (["process", "window_level", *self.image_args(), "--timeout", "-1"],
                            "--timeout"),
                           (["jobs"], "--client-id"),
                           (["queues", "--bogus"], "--bogus")):
            done = self.run_cli(*args)
            self.assert_clean_failure(done, 2)
            self.assertIn(word, done.stderr)

    def test_unreachable_server_is_exit_4(self):
        port = closed_port()
        env = {"API_BASE": f"http://127.0.0.1:{port}/api", "WS_ENDPOINT": None}
        for args in (["provision"], ["queues"],
                     ["process", "window_level", *self.image_args(), "--client-id", "c"]):
            done = self.run_cli(*args, env=env)
            self.assert_clean_failure(done, 4)
            self.assertIn(f"127.0.0.1:{port}", done.stderr)

    def test_bad_endpoint_urls_are_usage_errors(self):
        for env in ({"API_BASE": "not a url"}, {"API_BASE": "https://x/api"},
                    {"WS_ENDPOINT": "http://127.0.0.1:1/ws"}):
            done = self.run_cli("queues", env=env)
            self.assert_clean_failure(done, 2)

    def test_garbage_reply_is_exit_4(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)

        def answer():
            for _ in range(1):
                conn, _ = listener.accept()
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!")
                conn.close()

        threading.Thread(target=answer, daemon=True).start()
        done = self.run_cli("queues", env={
            "API_BASE": f"http://127.0.0.1:{listener.getsockname()[1]}/api"})
        listener.close()
        self.assert_clean_failure(done, 4)
        self.assertIn("not JSON", done.stderr)


class FailedJobTest(unittest.TestCase):
    """A job that fails ends the client with exit code 1 and the job's error."""

    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix="imgpipe-cli-external-")
        os.makedirs(os.path.join(cls.folder, "crasher"))
        script = os.path.join(cls.folder, "crasher", "run.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\necho about to crash >&2; kill -SEGV $$\n")
        os.chmod(script, 0o755)
        with open(os.path.join(cls.folder, "crasher", "algorithm.json"), "w") as f:
            json.dump({"name": "crasher", "description": "test: crashes", "command": ["run.sh"],
                       "time_limit_seconds": 30}, f)
        cls.server = ImgpipeServer("--demo", "--external-dir", cls.folder)
        cls.study, cls.series, images = demo_ct(cls.server)
        cls.image = images[0]

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.folder, ignore_errors=True)

    def test_failed_job_is_exit_1_with_its_error(self):
        base = self.server.base
        env = dict(os.environ, API_BASE=base + "/api", WS_ENDPOINT="ws" + base[4:] + "/ws")
        env.pop("IMGPIPE_CLIENT_ID", None)
        done = subprocess.run([BIN, "process", "crasher", "--study", self.study, "--series",
                               self.series, "--image", self.image, "--json"],
                              capture_output=True, text=True, env=env, timeout=180)
        self.assertEqual(done.returncode, 1, (done.stdout, done.stderr))
        result = json.loads(done.stdout)
        self.assertEqual(result["status"], "failed")
        self.assertIn("SIGSEGV", done.stderr)
        self.assertRegex(done.stderr, r"job \S+ failed: unprocessable")


if __name__ == "__main__":
    unittest.main()
