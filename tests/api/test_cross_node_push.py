#!/usr/bin/python3
"""Cross-node push on PostgreSQL: two imgpipe processes with the push role share one database; a
client's connections on either process receive every result, whichever process's results
consumer stored it (announced with LISTEN/NOTIFY, read from the shared event store)."""
import asyncio
import json
import os
import sys
import unittest

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from pg_server import PgServer  # noqa: E402
from test_jobs_api import Api, wait_for  # noqa: E402
from test_push_api import receive, ws_url  # noqa: E402

JOBS = 8


class CrossNodePushTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        # A: API, workers and push (one results consumer); B: push only (a second consumer).
        cls.a = ImgpipeServer("--demo", "--roles", "api,worker,push", "--database-url", cls.pg.url)
        cls.b = ImgpipeServer("--roles", "push", "--database-url", cls.pg.url)

    @classmethod
    def tearDownClass(cls):
        cls.b.cleanup()
        cls.a.cleanup()
        cls.pg.stop()

    def test_every_result_reaches_the_client_on_both_processes(self):
        api = Api(self.a)
        client = api.provision()
        study, series, images = api.ct()

        async def scenario():
            async with websockets.connect(ws_url(self.a, client)) as on_a, \
                    websockets.connect(ws_url(self.b, client)) as on_b:
                self.assertEqual((await receive(on_a))["type"], "hello")
                self.assertEqual((await receive(on_b))["type"], "hello")
                jobs = []
                for i in range(JOBS):
                    status, _, reply = api.process("window_level", {
                        "study_id": study, "series_id": series, "image_id": images[i],
                        "scope": "image", "client_id": client})
                    self.assertEqual(status, 202, reply)
                    jobs.append(reply["job_id"])
                for ws in (on_a, on_b):
                    got = [await receive(ws, timeout=30) for _ in range(JOBS)]
                    self.assertEqual([e["seq"] for e in got], list(range(1, JOBS + 1)))
                    self.assertEqual([e["job_id"] for e in got], jobs)  # one client: FIFO
                    self.assertTrue(all(e["status"] == "succeeded" for e in got))
        asyncio.run(scenario())

    def test_zz_readiness_follows_each_roles_dependencies(self):
        # Runs last (names sort): it stops PostgreSQL for a while.
        a = self.a.get_json("/readyz")
        self.assertEqual(a["roles"], ["api", "worker", "push"])
        self.assertEqual(a["checks"], {"database": "ok", "blobs": "ok", "queues": "ok",
                                       "notifications": "ok"})
        b = self.b.get_json("/readyz")  # push only: no blob store to check
        self.assertEqual(b, {"status": "ready", "roles": ["push"],
                             "checks": {"database": "ok", "notifications": "ok"}})
        self.pg.pause()
        try:
            def not_ready(server):
                status, headers, body = server.request("GET", "/readyz")
                report = json.loads(body)
                if status == 503 and report["checks"]["notifications"] != "ok":
                    return report, headers
                return None
            for server in (self.a, self.b):
                report, headers = wait_for(lambda: not_ready(server), "503 from /readyz")
                self.assertEqual(report["status"], "not_ready")
                self.assertNotEqual(report["checks"]["database"], "ok")
                self.assertIn("LISTEN", report["checks"]["notifications"])
                self.assertEqual(headers.get("retry-after"), "1")
                self.assertEqual(server.get_json("/healthz"), {"status": "ok"})
        finally:
            self.pg.resume()
        # Both come back by themselves: the pool and the LISTEN connection reconnect.
        for server in (self.a, self.b):
            wait_for(lambda: server.request("GET", "/readyz")[0] == 200, "ready again")
        self.test_every_result_reaches_the_client_on_both_processes()


if __name__ == "__main__":
    unittest.main(verbosity=2)
