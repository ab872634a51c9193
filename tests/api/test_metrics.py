#!/usr/bin/python3
"""GET /metrics against a live `imgpipe serve --demo`: valid Prometheus text (checked by
`promtool check metrics`, Debian `prometheus`), and every figure issue 8 names moves with what
the test does: HTTP requests by route and status, previews (cache hit and miss, render time),
jobs by algorithm and outcome with their histograms, the queues, the pushes (sent, connected,
disconnects) and the process (RSS, open files)."""
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from test_jobs_api import Api, wait_for  # noqa: E402

DEPLOY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels.items())): value} of every sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise AssertionError(f"not a sample line: {line!r}")
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ImgpipeServer("--demo")
        cls.api = Api(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def scrape(self):
        status, headers, body = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        text = body.decode()
        check = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                               capture_output=True)
        # promtool exits 1 for lint findings as well as errors; an error names the line.
        self.assertNotIn("error", (check.stdout + check.stderr).lower(), check.stderr)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        return text, parse(text)

    def test_exposition_is_valid_and_has_every_family(self):
        text, _ = self.scrape()
        for family in ("imgpipe_http_requests_total", "imgpipe_http_request_duration_seconds",
                       "imgpipe_queue_visible_messages", "imgpipe_queue_in_flight_messages",
                       "imgpipe_queue_oldest_message_age_seconds",
                       "imgpipe_queue_dead_letter_messages", "imgpipe_queue_sent_messages_total",
                       "imgpipe_queue_received_messages_total",
                       "imgpipe_queue_deleted_messages_total", "imgpipe_push_sent_total",
                       "imgpipe_push_failures_total", "imgpipe_push_disconnects_total",
                       "imgpipe_push_connections", "imgpipe_push_connected_clients",
                       "imgpipe_jobs_total", "imgpipe_jobs_submitted_total",
                       "imgpipe_job_duration_seconds", "imgpipe_job_end_to_end_seconds",
                       "imgpipe_render_duration_seconds", "imgpipe_render_cache_requests_total",
                       "process_resident_memory_bytes", "process_open_fds"):
            self.assertIn(f"# TYPE {family} ", text, family)

    def test_alerts_and_dashboard_use_only_metrics_the_server_exports(self):
        text, _ = self.scrape()
        exported = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
        with open(os.path.join(DEPLOY, "prometheus", "alerts.yml")) as f:
            alerts = f.read()
        with open(os.path.join(DEPLOY, "grafana", "imgpipe-dashboard.json")) as f:
            dashboard = json.load(f)
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        self.assertGreaterEqual(len(exprs), 10)
        used = set()
        for source in [alerts] + exprs:
            used |= set(re.findall(r"\b((?:imgpipe|process)_[a-z_]+?)(?:_bucket)?\b", source))
        self.assertGreater(len(used), 10)
        self.assertEqual(sorted(used - exported), [])
        # Every dashboard query is valid PromQL: promtool checks them as recording rules.
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as rules:
            json.dump({"groups": [{"name": "dashboard", "rules": [
                {"record": f"dashboard:panel_{i}", "expr": e} for i, e in enumerate(exprs)]}]},
                rules)
            rules.flush()
            check = subprocess.run(["promtool", "check", "rules", rules.name],
                                   capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_http_previews_and_process(self):
        _, before = self.scrape()
        study, series, images = self.api.ct()
        preview = f"/pacs/studies/{study}/series/{series}/images/{images[1]}/preview?size=77"
        for _ in range(2):  # a miss, then a hit
            status, _, _ = self.server.request("GET", preview)
            self.assertEqual(status, 200)
        status, _, _ = self.server.request("GET", "/api/jobs/nope?client_id=nobody")
        self.assertIn(status, (401, 404))
        _, after = self.scrape()
        route = "/pacs/studies/{study_id}/series/{series_id}/images/{image_id}/preview"

        def delta(name, **labels):
            return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

        self.assertEqual(delta("imgpipe_http_requests_total", method="GET", route=route,
                               status="200"), 2)
        self.assertEqual(delta("imgpipe_http_requests_total", method="GET",
                               route="/api/jobs/{job_id}", status=str(status)), 1)
        self.assertEqual(delta("imgpipe_http_request_duration_seconds_count", method="GET",
                               route=route), 2)
        self.assertEqual(delta("imgpipe_render_cache_requests_total", result="miss"), 1)
        self.assertEqual(delta("imgpipe_render_cache_requests_total", result="hit"), 1)
        self.assertEqual(delta("imgpipe_render_duration_seconds_count"), 1)
        self.assertGreater(value(after, "imgpipe_render_duration_seconds_sum"), 0)
        self.assertGreater(value(after, "process_resident_memory_bytes"), 10e6)
        self.assertGreater(value(after, "process_open_fds"), 3)
        self.assertLessEqual(value(after, "process_open_fds"), value(after, "process_max_fds"))

    def test_jobs_queues_and_pushes(self):
        client = self.api.provision()
        study, series, images = self.api.ct()
        _, before = self.scrape()

        def delta(name, **labels):
            return (value(now, name, **labels) or 0) - (value(before, name, **labels) or 0)

        async def scenario():
            url = f"ws://{self.server.host}:{self.server.port}/ws?client_id={client}"
            async with websockets.connect(url) as ws:
                self.assertEqual(json.loads(await ws.recv())["type"], "hello")
                status, _, reply = self.api.process("window_level", {
                    "study_id": study, "series_id": series, "image_id": images[0],
                    "client_id": client})
                self.assertEqual(status, 202, reply)
                result = json.loads(await asyncio.wait_for(ws.recv(), 60))
                self.assertEqual(result["status"], "succeeded")
                _, connected = self.scrape()
                self.assertEqual(value(connected, "imgpipe_push_connections"), 1)
                self.assertEqual(value(connected, "imgpipe_push_connected_clients"), 1)
        asyncio.run(scenario())
        # The result is pushed before the results message is deleted, so wait for the ack.
        wait_for(lambda: value(self.scrape()[1], "imgpipe_push_connections") == 0,
                 "the disconnect counted")
        _, now = self.scrape()
        labels = {"algorithm": "window_level"}
        self.assertEqual(delta("imgpipe_jobs_submitted_total", **labels), 1)
        self.assertEqual(delta("imgpipe_jobs_total", outcome="succeeded", **labels), 1)
        self.assertEqual(delta("imgpipe_job_duration_seconds_count", **labels), 1)
        self.assertEqual(delta("imgpipe_job_end_to_end_seconds_count", **labels), 1)
        # Submit to result is at least the run itself.
        self.assertGreaterEqual(delta("imgpipe_job_end_to_end_seconds_sum", **labels),
                                delta("imgpipe_job_duration_seconds_sum", **labels) - 0.002)
        self.assertEqual(delta("imgpipe_queue_sent_messages_total", queue="algo.window_level"), 1)
        self.assertEqual(delta("imgpipe_queue_deleted_messages_total",
                               queue="algo.window_level"), 1)
        self.assertEqual(delta("imgpipe_queue_sent_messages_total", queue="results"), 1)
        wait_for(lambda: value(self.scrape()[1], "imgpipe_queue_deleted_messages_total",
                               queue="results") > value(before,
                                                        "imgpipe_queue_deleted_messages_total",
                                                        queue="results"),
                 "the result acknowledged")
        _, now = self.scrape()
        self.assertEqual(value(now, "imgpipe_queue_visible_messages", queue="results"), 0)
        self.assertEqual(value(now, "imgpipe_queue_in_flight_messages", queue="results"), 0)
        self.assertEqual(value(now, "imgpipe_queue_oldest_message_age_seconds", queue="results"),
                         0)
        self.assertEqual(delta("imgpipe_push_sent_total"), 1)
        self.assertEqual(delta("imgpipe_push_disconnects_total"), 1)
        self.assertEqual(value(now, "imgpipe_push_connected_clients"), 0)

    def test_backlog_shows_as_visible_messages_and_age(self):
        # A queue nobody consumes (no worker for it in this process): its depth and the age of
        # its oldest message are what the backlog alerts watch.
        server = ImgpipeServer("--demo", "--algorithms", "clahe")
        try:
            api = Api(server)
            client = api.provision()
            study, series, images = api.ct()
            for image in images[:3]:
                status, _, reply = api.process("canny", {
                    "study_id": study, "series_id": series, "image_id": image,
                    "client_id": client})
                self.assertEqual(status, 202, reply)

            def backlog():
                status, _, body = server.request("GET", "/metrics")
                return parse(body.decode())

            wait_for(lambda: value(backlog(), "imgpipe_queue_oldest_message_age_seconds",
                                   queue="algo.canny") >= 1, "the oldest message ages")
            samples = backlog()
            self.assertEqual(value(samples, "imgpipe_queue_visible_messages", queue="algo.canny"),
                             3)
            self.assertEqual(value(samples, "imgpipe_queue_in_flight_messages",
                                   queue="algo.canny"), 0)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
