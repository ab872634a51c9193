#!/usr/bin/python3
"""The shipped nginx config (deploy/nginx/imgpipe.conf, only its marked lines rewritten) in front
of two imgpipe processes on one PostgreSQL: A (--demo, roles api,worker,push) and B (api,push),
sharing a blob folder. HTTP reaches both; provision + process + WebSocket through nginx delivers
the result on connections held by either process; after B is killed, requests (a POST too) and a
WebSocket resume still succeed through nginx's failover."""
import asyncio
import os
import re
import shutil
import signal
import sys
import tempfile
import unittest

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from nginx_server import NginxServer  # noqa: E402
from pg_server import PgServer  # noqa: E402
from test_jobs_api import Api  # noqa: E402
from test_push_api import receive, ws_url  # noqa: E402


def upstreams(lines, path_prefix):
    """The `up=` field of the access-log lines whose request path starts with path_prefix."""
    out = []
    for line in lines:
        m = re.search(r'"\w+ (\S+) HTTP/[\d.]+" \d+ \d+ up=(.*?) up_status=', line)
        if m and m.group(1).startswith(path_prefix):
            out.append(m.group(2))
    return out


class NginxLoadBalancingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.blobs = tempfile.mkdtemp(prefix="imgpipe-it-shared-")  # one host: one blob folder
        cls.a = ImgpipeServer("--demo", "--roles", "api,worker,push", "--database-url", cls.pg.url,
                              data_dir=cls.blobs)
        cls.b = ImgpipeServer("--roles", "api,push", "--database-url", cls.pg.url,
                              data_dir=cls.blobs)
        both = [f"127.0.0.1:{cls.a.port}", f"127.0.0.1:{cls.b.port}"]
        cls.addr_a, cls.addr_b = both
        cls.nginx = NginxServer(api=both, push=both)
        cls.api = Api(cls.nginx)  # every call below goes through nginx

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        cls.b.cleanup()
        cls.a.cleanup()
        shutil.rmtree(cls.blobs, ignore_errors=True)
        cls.pg.stop()

    def submit(self, client, study, series, image):
        status, _, reply = self.api.process("window_level", {
            "study_id": study, "series_id": series, "image_id": image, "scope": "image",
            "client_id": client})
        self.assertEqual(status, 202, reply)
        return reply["job_id"]

    def test_1_http_and_websockets_reach_both_processes(self):
        for _ in range(12):
            self.assertEqual(self.nginx.get_json("/readyz")["status"], "ready")
            self.nginx.get_json("/pacs/studies")
        # Sequential requests find both idle: least_conn then takes them in turn.
        self.assertEqual(set(upstreams(self.nginx.log_lines(), "/")), {self.addr_a, self.addr_b})
        # Host and X-Forwarded-Proto reach imgpipe (set in each location: a location's own
        # proxy_set_header lines hide the server level's): the URLs it hands out name nginx.
        info = self.nginx.get_json("/api/info")
        self.assertEqual((info["api_base"], info["ws_endpoint"]),
                         ("http://127.0.0.1/api", "ws://127.0.0.1/ws"))

        client = self.api.provision()
        study, series, images = self.api.ct()

        async def scenario():
            # least_conn: two connections held at once land on the two push processes.
            async with websockets.connect(ws_url(self.nginx, client)) as one, \
                    websockets.connect(ws_url(self.nginx, client)) as two:
                self.assertEqual((await receive(one))["type"], "hello")
                self.assertEqual((await receive(two))["type"], "hello")
                job = self.submit(client, study, series, images[0])
                for ws in (one, two):
                    event = await receive(ws, timeout=30)
                    got = (event["type"], event["job_id"], event["status"], event["seq"])
                    self.assertEqual(got, ("result", job, "succeeded", 1))
        asyncio.run(scenario())
        # A WebSocket's log line is written when it closes.
        self.assertEqual(sorted(upstreams(self.nginx.log_lines(), "/ws")),
                         sorted([self.addr_a, self.addr_b]))

    def test_2_failover_when_a_process_dies(self):
        client = self.api.provision()
        study, series, images = self.api.ct()

        async def scenario():
            async with websockets.connect(ws_url(self.nginx, client)) as ws:
                self.assertEqual((await receive(ws))["type"], "hello")
            before = len(self.nginx.log_lines())
            self.b.stop(sig=signal.SIGKILL)  # a crash: connections refused from now on
            for _ in range(12):
                self.assertEqual(self.nginx.get_json("/readyz")["status"], "ready")
                self.nginx.get_json("/pacs/studies")
            # A POST not yet sent when the connection was refused is retried too.
            clients = [self.api.provision() for _ in range(4)]
            self.assertEqual(len(set(clients)), 4)
            after = self.nginx.log_lines()[before:]
            # Every request after the crash was answered by A (possibly after trying B first).
            ups = upstreams(after, "/")
            self.assertTrue(ups)
            self.assertTrue(all(u.split(", ")[-1] == self.addr_a for u in ups), ups)
            # ...and nginx did try B and fail over (passive health: B then skipped a while).
            self.assertIn(f"{self.addr_b}, {self.addr_a}", ups)
            self.assertFalse([line for line in after if " 502 " in line or " 504 " in line])
            # The WebSocket reconnects through nginx and gets the next result.
            async with websockets.connect(ws_url(self.nginx, client, last_seq=0)) as ws:
                self.assertEqual((await receive(ws))["type"], "hello")
                job = self.submit(client, study, series, images[1])
                event = await receive(ws, timeout=30)
                self.assertEqual((event["type"], event["job_id"], event["status"]),
                                 ("result", job, "succeeded"))
        asyncio.run(scenario())


if __name__ == "__main__":
    unittest.main(verbosity=2)
