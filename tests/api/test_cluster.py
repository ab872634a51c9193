#!/usr/bin/python3
"""The scale-out deployment on loopback (issue 7): PostgreSQL, an S3-compatible store (s3rver),
2 api, 3 worker and 2 push processes, each `imgpipe serve --roles ...` on the shared stores.

The tests run in name order on one cluster and kill a process of each role with SIGKILL, as a host
failure would: a worker mid-job, a push process holding a client's WebSocket, an api process in
the middle of a stream of submissions. The last test checks that nothing accepted was lost: every
job that got a 202 has exactly one result event for its client."""
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest
import uuid

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from pg_server import PgServer  # noqa: E402
from s3_server import CREDENTIALS, S3Server  # noqa: E402
from test_jobs_api import Api, wait_for  # noqa: E402
from test_push_api import receive, ws_url  # noqa: E402

BUCKET = "imgpipe-cluster"
VISIBILITY_S = 3  # a dead worker's job runs again after this
SLOW_MARKER = "imgpipe-cluster-slow-job"
# An external algorithm that takes 2 s, so a worker can be killed in the middle of it.
SLOW_MANIFEST = {
    "name": "slow", "description": "sleeps 2 s, then reports a summary (cluster test)",
    "command": ["/bin/sh", "-c",
                f"sleep 2 # {SLOW_MARKER}\nprintf '{{\"summary\":{{\"slept_s\":2}}}}' > output.json"],
    "time_limit_seconds": 30,
}


def ancestors(pid):
    """pid's parent, grandparent, ... (from /proc)."""
    chain = []
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        chain.append(pid)
    return chain


def slow_runs():
    """pids of the shell processes running the slow algorithm now."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if SLOW_MARKER.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


class ClusterTest(unittest.TestCase):
    accepted = {}  # job id -> client id, every job that got a 202 (checked by the last test)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imgpipe-cluster-")
        ext = os.path.join(cls.tmp, "algorithms")
        os.makedirs(ext)
        with open(os.path.join(ext, "slow.json"), "w") as f:
            json.dump(SLOW_MANIFEST, f)
        cls.pg = PgServer()
        cls.s3 = S3Server(BUCKET)
        shared = ("--database-url", cls.pg.url, "--blob-url", f"s3://{BUCKET}/cluster",
                  "--blob-s3-endpoint", cls.s3.endpoint, "--external-dir", ext,
                  "--visibility-timeout-s", str(VISIBILITY_S))
        cls.procs = []

        def start(name, *args):
            server = ImgpipeServer(*shared, *args, env=CREDENTIALS)
            server.name = name
            cls.procs.append(server)
            return server
        try:
            cls.api_a = start("api-a", "--roles", "api", "--demo")
            cls.api_b = start("api-b", "--roles", "api")
            cls.workers = [start(f"worker-{i}", "--roles", "worker", "--concurrency", "4")
                           for i in range(3)]
            cls.push_a = start("push-a", "--roles", "push")
            cls.push_b = start("push-b", "--roles", "push")
        except Exception:
            cls.tearDownClass()
            raise
        cls.study, cls.series, cls.images = Api(cls.api_a).ct()

    @classmethod
    def tearDownClass(cls):
        for server in cls.procs:
            server.cleanup()
        for pid in slow_runs():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        cls.s3.stop()
        cls.pg.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def submit(self, api, client, algorithm="window_level", image=0, key=None):
        body = {"study_id": self.study, "series_id": self.series,
                "image_id": self.images[image % len(self.images)], "scope": "image",
                "client_id": client}
        headers = {"Idempotency-Key": key} if key else {}
        status, _, reply = Api(api).process(algorithm, body, headers)
        self.assertEqual(status, 202, reply)
        ClusterTest.accepted[reply["job_id"]] = client
        return reply["job_id"]

    def events(self, api, client):
        """Every stored event of `client`, through GET /api/events (all pages)."""
        out, after = [], 0
        while True:
            page = api.get_json(f"/api/events?client_id={client}&after={after}&limit=1000")
            out += page["events"]
            if not page["events"]:
                return out
            after = page["events"][-1]["seq"]

    def results_by_job(self, api, client):
        by_job = {}
        for e in self.events(api, client):
            if e["type"] == "result":
                by_job.setdefault(e["job_id"], []).append(e)
        return by_job

    def test_1_results_reach_the_client_on_another_process(self):
        # Submitted through api A, run on any of the workers, stored by either push process's
        # results consumer: every result reaches the client's WebSocket on push B, in order.
        api = Api(self.api_a)
        client = api.provision()

        async def scenario():
            async with websockets.connect(ws_url(self.push_b, client)) as ws:
                self.assertEqual((await receive(ws))["type"], "hello")
                jobs = [self.submit(self.api_a, client, image=i) for i in range(12)]
                got = []
                while len([e for e in got if e["type"] == "result"]) < len(jobs):
                    got.append(await receive(ws, timeout=60))
                self.assertEqual([e["seq"] for e in got], list(range(1, len(got) + 1)))
                results = [e for e in got if e["type"] == "result"]
                self.assertEqual([e["job_id"] for e in results], jobs)  # one client: FIFO
                self.assertTrue(all(e["status"] == "succeeded" for e in results), results)
        asyncio.run(scenario())

    def test_2_a_worker_killed_mid_job(self):
        # The worker running the slow job dies with its child; the job's message comes back after
        # the visibility timeout and another worker completes it: one result, second attempt.
        client = Api(self.api_b).provision()
        job = self.submit(self.api_b, client, algorithm="slow")
        worker_pids = {w.proc.pid: w for w in self.workers}

        def running_on():
            for pid in slow_runs():
                for parent in ancestors(pid):
                    if parent in worker_pids:
                        return pid, worker_pids[parent]
            return None
        shell, victim = wait_for(running_on, "the slow job to start on a worker")
        victim.stop(signal.SIGKILL)
        os.killpg(os.getpgid(shell), signal.SIGKILL)  # the host is gone: its children too
        survivors = [w for w in self.workers if w is not victim]
        self.workers = survivors
        record = Api(self.api_a).wait_terminal(job, client)
        self.assertEqual(record["status"], "succeeded", record)
        self.assertGreaterEqual(record["attempts"], 2)
        self.assertEqual(record["summary"]["slept_s"], 2)
        # The job is done; its result event follows through the results queue.
        results = wait_for(lambda: self.results_by_job(self.api_a, client), "the result event")
        self.assertEqual(list(results), [job])
        self.assertEqual(len(results[job]), 1)

    def test_3_a_push_process_killed(self):
        # The client's WebSocket is on push B when B dies; it reconnects to push A with its
        # last_seq and gets every result, including those stored while it was away, once.
        api = Api(self.api_a)
        client = api.provision()

        async def scenario():
            received = []
            first = [self.submit(self.api_a, client, image=i) for i in range(6)]
            async with websockets.connect(ws_url(self.push_b, client)) as ws:
                self.assertEqual((await receive(ws))["type"], "hello")
                while len([e for e in received if e["type"] == "result"]) < 3:
                    received.append(await receive(ws, timeout=60))
                self.push_b.stop(signal.SIGKILL)
                try:  # whatever was already on the wire before the close
                    while True:
                        received.append(await receive(ws, timeout=5))
                except (websockets.ConnectionClosed, asyncio.TimeoutError):
                    pass
            later = [self.submit(self.api_b, client, image=i) for i in range(6, 12)]
            last_seq = received[-1]["seq"]
            async with websockets.connect(ws_url(self.push_a, client, last_seq)) as ws:
                hello = await receive(ws)
                self.assertEqual(hello["type"], "hello")
                while len([e for e in received if e["type"] == "result"]) < 12:
                    received.append(await receive(ws, timeout=60))
            seqs = [e["seq"] for e in received]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)))  # no gap, no duplicate
            results = [e["job_id"] for e in received if e["type"] == "result"]
            self.assertEqual(results, first + later)
        asyncio.run(scenario())

    def test_4_an_api_process_killed(self):
        # A stream of submissions goes to api A until it dies, then to api B. A submission cut
        # short is retried on B with the same Idempotency-Key, so it exists once whatever A did
        # with it before dying.
        client = Api(self.api_b).provision()
        apis = [self.api_a, self.api_b]
        submitted = []
        killed_at = 15
        for i in range(40):
            if i == killed_at:
                self.api_a.stop(signal.SIGKILL)
            key = str(uuid.uuid4())
            for attempt, api in enumerate(apis):
                try:
                    submitted.append(self.submit(api, client, image=i, key=key))
                    break
                except (ConnectionError, OSError):
                    if attempt == len(apis) - 1:
                        raise
                    apis = apis[1:]  # a dead process: fail over to the next one
        self.assertEqual(len(submitted), 40)
        self.assertEqual(len(set(submitted)), 40)
        wait_for(lambda: len(self.results_by_job(self.api_b, client)) == 40,
                 "every result of the stream")

    def test_5_nothing_accepted_was_lost(self):
        # Every job any test got a 202 for has exactly one result event for its client.
        self.assertGreater(len(ClusterTest.accepted), 50)
        clients = set(ClusterTest.accepted.values())
        deadline = time.monotonic() + 120
        while True:
            by_client = {c: self.results_by_job(self.api_b, c) for c in clients}
            missing = [j for j, c in ClusterTest.accepted.items() if j not in by_client[c]]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(missing, [])
        for client, results in by_client.items():
            for job, events in results.items():
                self.assertEqual(len(events), 1, (job, events))
                self.assertEqual(ClusterTest.accepted.get(job), client)
                self.assertEqual(events[0]["status"], "succeeded", events[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
