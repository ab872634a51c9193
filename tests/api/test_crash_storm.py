#!/usr/bin/python3
"""Crash consistency (issue 9, point 4): a storm of jobs against `imgpipe serve` while it is
killed with SIGKILL at random moments and restarted on the same data. At the end every job that
got a 202 has exactly one terminal result event for its client, every output of a succeeded job
is whole, no blob is orphaned or left half-written, and the database passes an integrity check.
Run on SQLite (embedded) and on PostgreSQL (IMGPIPE_CRASH_BACKEND=postgres, a throwaway server).

Environment: CRASH_JOBS (default 2000), CRASH_KILLS (default 10), CRASH_SEED."""
import http.client
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402

JOBS = int(os.environ.get("CRASH_JOBS", "2000"))
KILLS = int(os.environ.get("CRASH_KILLS", "10"))
CLIENTS = 20
NO_LIMITS = {f"IMGPIPE_LIMITS_{name}": "0" for name in (
    "SUBMITS_PER_S_PER_CLIENT", "SUBMITS_PER_S_PER_ADDRESS", "CONNECTS_PER_S_PER_ADDRESS",
    "MAX_ACTIVE_JOBS_PER_CLIENT", "MAX_CONNECTIONS_PER_CLIENT")}


class Target:
    """The current server's address; None while it is down."""

    def __init__(self):
        self.lock = threading.Lock()
        self.address = None

    def set(self, address):
        with self.lock:
            self.address = address

    def get(self):
        with self.lock:
            return self.address


def call(target, method, path, body=None, headers=None, timeout=10):
    """(status, json) or None when the server is down or died during the call."""
    address = target.get()
    if address is None:
        return None
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


class CrashStormTest(unittest.TestCase):
    def setUp(self):
        self.seed = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
        print(f"seed {self.seed}", flush=True)
        self.rng = random.Random(self.seed)
        self.data_dir = tempfile.mkdtemp(prefix="imgpipe-crash-")
        self.addCleanup(shutil.rmtree, self.data_dir, True)
        self.args = ["--demo"]
        self.pg = None
        if os.environ.get("IMGPIPE_CRASH_BACKEND") == "postgres":
            from pg_server import PgServer
            self.pg = PgServer()
            self.addCleanup(self.pg.stop)
            self.args += ["--database-url", self.pg.url]
        self.server = None

    def start(self):
        self.server = ImgpipeServer(*self.args, env=NO_LIMITS, data_dir=self.data_dir)
        return (self.server.host, self.server.port)

    def test_storm_with_kills(self):
        target = Target()
        target.set(self.start())
        self.addCleanup(lambda: self.server and self.server.cleanup())
        status, studies = call(target, "GET", "/pacs/studies?ModalitiesInStudy=CT")
        study = studies["studies"][0]["study_id"]
        _, detail = call(target, "GET", f"/pacs/studies/{study}")
        series = detail["series"][0]["series_id"]
        _, images = call(target, "GET", f"/pacs/studies/{study}/series/{series}")
        image_ids = [i["image_id"] for i in images["images"]]
        clients = [call(target, "POST", "/api/provision")[1]["client_id"] for _ in range(CLIENTS)]

        accepted = {}  # job_id -> client (a 202 came back)
        done = threading.Event()

        def submit_all():
            for n in range(JOBS):
                client = clients[n % CLIENTS]
                body = json.dumps({"study_id": study, "series_id": series,
                                   "image_id": image_ids[n % len(image_ids)],
                                   "client_id": client,
                                   "params": {"width": 64 + n % 7}})
                # The same key on every retry: a POST whose reply the kill swallowed either
                # created the job (the retry returns it) or did not (the retry creates it).
                headers = {"Content-Type": "application/json", "Idempotency-Key": f"storm-{n}"}
                while True:
                    reply = call(target, "POST", "/api/process/resize", body, headers)
                    if reply is not None and reply[0] == 202:
                        accepted[reply[1]["job_id"]] = client
                        break
                    if reply is not None and reply[0] not in (429, 503):
                        raise AssertionError(f"submit {n}: {reply}")
                    time.sleep(0.05)
            done.set()

        submitter = threading.Thread(target=submit_all, daemon=True)
        submitter.start()
        kills = 0
        while kills < KILLS or not done.is_set():
            time.sleep(self.rng.uniform(0.3, 1.5))
            target.set(None)
            self.server.stop(signal.SIGKILL)
            kills += 1
            target.set(self.start())
            if kills > KILLS * 10:
                self.fail("the submissions never finished")
        submitter.join()
        print(f"{len(accepted)} jobs accepted, {kills} kills", flush=True)
        self.assertEqual(len(accepted), JOBS)

        # Every accepted job ends with exactly one result event for its client.
        def results():
            by_job = {}
            for client in clients:
                after = 0
                while True:
                    reply = call(target, "GET",
                                 f"/api/events?client_id={client}&after={after}&limit=1000")
                    self.assertIsNotNone(reply)
                    events = reply[1]["events"]
                    if not events:
                        break
                    for e in events:
                        if e["type"] == "result":
                            by_job.setdefault(e["job_id"], []).append((client, e))
                    after = events[-1]["seq"]
            return by_job

        deadline = time.monotonic() + 600
        while True:
            by_job = results()
            missing = [j for j in accepted if j not in by_job]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(1)
        self.assertEqual(missing, [])
        self.assertEqual(sorted(by_job), sorted(accepted))  # no result for an unknown job
        for job, events in by_job.items():
            self.assertEqual(len(events), 1, (job, events))
            client, event = events[0]
            self.assertEqual(client, accepted[job])
            self.assertEqual(event["status"], "succeeded", event)

        # Outputs: every succeeded job's files whole; nothing under results/ for other jobs;
        # no temporary file left behind anywhere in the blob folder.
        self.server.stop()
        blobs = os.path.join(self.data_dir, "blobs")
        leftovers = [os.path.join(d, f) for d, _, files in os.walk(blobs) for f in files
                     if "~" in f]
        self.assertEqual(leftovers, [])
        result_dirs = set(os.listdir(os.path.join(blobs, "results")))
        self.assertEqual(result_dirs - set(accepted), set())
        for job in accepted:
            folder = os.path.join(blobs, "results", job)
            with open(os.path.join(folder, "image.png"), "rb") as f:
                png = f.read()
            self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"), job)
            self.assertTrue(png.endswith(b"IEND\xaeB`\x82"), job)  # not cut short
            with open(os.path.join(folder, "result.dcm"), "rb") as f:
                dcm = f.read()
            self.assertEqual(dcm[128:132], b"DICM", job)
            check = subprocess.run(["dcmftest", os.path.join(folder, "result.dcm")],
                                   capture_output=True, text=True)
            self.assertIn("yes", check.stdout, job)

        # The database: SQLite's own check; on PostgreSQL, the rows agree with the events.
        if self.pg is None:
            db = sqlite3.connect(os.path.join(self.data_dir, "imgpipe.db"))
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            rows = db.execute("SELECT status, COUNT(*) FROM jobs_jobs GROUP BY status").fetchall()
            db.close()
        else:
            out = subprocess.run(
                ["psql", self.pg.url, "-At", "-F", ",", "-c",
                 "SELECT status, COUNT(*) FROM jobs_jobs GROUP BY status"],
                capture_output=True, text=True, check=True).stdout
            rows = [(s, int(n)) for s, n in (line.split(",") for line in out.split())]
        self.assertEqual(dict(rows), {"succeeded": JOBS})


if __name__ == "__main__":
    unittest.main(verbosity=2)
