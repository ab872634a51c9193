#!/usr/bin/python3
"""Logs of a live `imgpipe serve --log-json --log-file`: every line valid JSON, the job's lines
with its job_id and the client's hash, each push success and disconnect logged with its fields,
the retention applied at start, and the client id (a capability) nowhere in any log."""
import asyncio
import glob
import json
import os
import shutil
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


if __name__ == "__main__":
    unittest.main()
