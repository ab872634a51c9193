#!/usr/bin/python3
"""Logs of a live `imgpipe serve --log-json --log-file`: every line valid JSON, the job's lines
with its job_id and the client's hash, each push success and disconnect logged with its fields,
the retention applied at start, and the client id (a capability) nowhere in any log; no secret a
request carries (query string, Authorization and other headers, bodies) in any line either."""
import asyncio
import glob
import json
import os
import shutil
import socket
import sys
import tempfile
import unittest

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from test_jobs_api import Api, wait_for  # noqa: E402


def short_hash(secret):
    """core::ShortHash: FNV-1a 64 folded to 32 bits, 8 hex characters."""
    h = 1469598103934665603
    for c in secret.encode():
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%08x" % (((h >> 32) ^ h) & 0xFFFFFFFF)


class LogsTest(unittest.TestCase):
    def setUp(self):
        self.log_dir = tempfile.mkdtemp(prefix="imgpipe-logs-")
        # A file past the retention (1 day): deleted when the server starts.
        self.old = os.path.join(self.log_dir, "imgpipe_2001-02-03.log")
        with open(self.old, "w") as f:
            f.write("old\n")
        self.server = ImgpipeServer("--demo", "--log-json", "--log-file",
                                    os.path.join(self.log_dir, "imgpipe.log"),
                                    "--log-retention-days", "1")

    def tearDown(self):
        self.server.cleanup()
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def log_text(self):
        text = ""
        for path in sorted(glob.glob(os.path.join(self.log_dir, "imgpipe_*.log"))):
            with open(path, encoding="utf-8") as f:  # strict: the lines must be valid UTF-8
                text += f.read()
        return text

    def records(self):
        return [json.loads(line) for line in self.log_text().splitlines()]

    def test_job_push_and_disconnect_lines(self):
        api = Api(self.server)
        client = api.provision()
        study, series, images = api.ct()
        url = f"ws://{self.server.host}:{self.server.port}/ws?client_id={client}"

        async def scenario():
            async with websockets.connect(url) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
                self.assertEqual(hello["type"], "hello")
                status, _, reply = api.process("window_level", {
                    "study_id": study, "series_id": series, "image_id": images[0],
                    "client_id": client})
                self.assertEqual(status, 202, reply)
                result = json.loads(await asyncio.wait_for(ws.recv(), 60))
                self.assertEqual(result["type"], "result")
                return reply["job_id"], result["seq"]
        job, seq = asyncio.run(scenario())  # leaving the block closes the socket (1000)
        # The file is flushed every second; wait for the disconnect line, then stop the server.
        wait_for(lambda: '"push: disconnected"' in self.log_text(), "the disconnect line", 30)
        self.assertEqual(self.server.stop(), 0)

        self.assertFalse(os.path.exists(self.old), "a file past the retention was kept")
        files = glob.glob(os.path.join(self.log_dir, "imgpipe_*.log"))
        self.assertEqual(len(files), 1, files)
        records = self.records()  # every line parses as JSON
        self.assertGreater(len(records), 5)
        for r in records:
            for key in ("ts", "level", "req", "msg"):
                self.assertIn(key, r)
        h = short_hash(client)

        def find(msg, **fields):
            return [r for r in records
                    if r["msg"] == msg and all(r.get(k) == v for k, v in fields.items())]

        self.assertEqual(len(find("jobs: provisioned client", client=h)), 1)
        submitted = find("jobs: job submitted", job_id=job, client=h, algorithm="window_level")
        self.assertEqual(len(submitted), 1, records)
        self.assertNotEqual(submitted[0]["req"], "-")  # logged inside the request
        worker = [r for r in records if r.get("job_id") == job and r["msg"].startswith("worker:")]
        self.assertTrue(worker, "no worker line with the job id")
        for r in worker:
            self.assertEqual(r.get("client"), h, r)
        self.assertTrue(any("succeeded" in r["msg"] for r in worker), worker)

        sent = find("push: sent", job_id=job, client=h, seq=seq, type="result")
        self.assertEqual(len(sent), 1, [r for r in records if r["msg"].startswith("push")])
        self.assertRegex(sent[0]["conn"], r"^127\.0\.0\.1:\d+$")
        self.assertEqual(len(find("push: connected", client=h, conn=sent[0]["conn"])), 1)
        gone = find("push: disconnected", client=h, conn=sent[0]["conn"])
        self.assertEqual(len(gone), 1)
        self.assertEqual(gone[0]["reason"], "closed by the client (1000)")
        self.assertEqual(gone[0]["sent_seq"], seq)

        # The capability never reaches a log: not the file, not stderr.
        self.assertNotIn(client, self.log_text())
        stderr = "".join(self.server.stderr_lines)
        self.assertNotIn(client, stderr)
        self.assertIn('"msg":"push: sent"', stderr)  # the same lines on stderr


class SecretsNotLoggedTest(unittest.TestCase):
    """Requests that carry secrets where clients put them (query string, Authorization and other
    headers, JSON bodies, the WebSocket URL, a malformed request): at debug level, no log line
    holds any of them; the client id shows only as its hash."""

    def test_no_secret_in_any_line(self):
        admin_key = "admin-key-3d9c4e1f"
        server = ImgpipeServer("--demo", "--log-json", "--log-level", "debug",
                               env={"IMGPIPE_ADMIN_KEY": admin_key})
        try:
            self.scenario(server, admin_key)
        finally:
            server.cleanup()

    def scenario(self, server, admin_key):
        api = Api(server)
        client = api.provision()
        study, series, images = api.ct()
        token = "tok-9f8e7d6c"
        bearer = {"Authorization": "Bearer bearer-5a4b3c2d", "X-Api-Key": "apikey-1a2b3c4d",
                  "Cookie": "session=cookie-6e5f4a3b"}
        secrets = [client, admin_key, token, "bearer-5a4b3c2d", "apikey-1a2b3c4d",
                   "cookie-6e5f4a3b", "body-secret-0c1d2e3f", "unknown-client-7b6a"]
        server.request("GET", f"/api/jobs?client_id={client}&access_token={token}", headers=bearer)
        server.request("GET", f"/api/events?after=0&client_id={client}", headers=bearer)
        server.request("GET", "/api/jobs?client_id=unknown-client-7b6a", headers=bearer)
        server.request("GET", f"/api/jobs/no-such-job?client_id={client}")
        server.request("GET", f"/pacs/studies?access_token={token}", headers=bearer)
        server.request("POST", "/pacs/images", b"not dicom", {
            "Content-Type": "application/dicom", "Authorization": "Bearer " + admin_key})
        status, _, reply = api.process("window_level", {
            "study_id": study, "series_id": series, "image_id": images[0], "client_id": client},
            headers=bearer)
        self.assertEqual(status, 202, reply)
        api.wait_terminal(reply["job_id"], client)
        # Bad bodies whose content an error could echo.
        api.process("window_level", {"study_id": "body-secret-0c1d2e3f", "client_id": client})
        api.process("window_level", {"study_id": study, "series_id": series,
                                     "image_id": images[0], "client_id": client,
                                     "params": {"body-secret-0c1d2e3f": 1}})
        server.request("POST", "/api/process/window_level", b'{"client_id": "body-secret-0c1d2e3f"',
                       {"Content-Type": "application/json"})
        # A request the parser refuses, with a secret in its query.
        sock = socket.create_connection((server.host, server.port), timeout=10)
        sock.sendall(f"GET /api/jobs?client_id={client}&access_token={token} HTTP/1.1\r\n"
                     "Host: x\r\nContent-Length: nope\r\n\r\n".encode())
        sock.recv(4096)
        sock.close()

        async def websocket():
            url = f"ws://{server.host}:{server.port}/ws?client_id={client}&access_token={token}"
            async with websockets.connect(url) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
                self.assertEqual(hello["type"], "hello")
                await ws.send(json.dumps({"action": "ping", "token": token}))
                await ws.send("not json " + token)
            bad = f"ws://{server.host}:{server.port}/ws?client_id=unknown-client-7b6a"
            with self.assertRaises(Exception):
                async with websockets.connect(bad) as ws:
                    await ws.recv()
        asyncio.run(websocket())
        wait_for(lambda: any('"push: disconnected"' in line for line in server.stderr_lines),
                 "the disconnect line", 30)
        self.assertEqual(server.stop(), 0)
        text = "".join(server.stderr_lines)
        self.assertIn('"level":"debug"', text)  # debug lines were on
        self.assertIn('"GET /api/jobs 200', text)  # the access lines were written
        for secret in secrets:
            self.assertNotIn(secret, text)
        self.assertIn(short_hash(client), text)


if __name__ == "__main__":
    unittest.main()
