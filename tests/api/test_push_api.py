#!/usr/bin/python3
"""WebSocket push against a live `imgpipe serve`, with a real client (Debian python3-websockets):
results arrive live, missed ones are replayed exactly once, nothing is lost across a restart."""
import asyncio
import json
import os
import signal
import sys
import unittest

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from test_jobs_api import Api, wait_for  # noqa: E402


def ws_url(server, client, last_seq=None):
    url = f"ws://{server.host}:{server.port}/ws?client_id={client}"
    return url if last_seq is None else f"{url}&last_seq={last_seq}"


async def receive(ws, timeout=60):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def receive_until(ws, predicate, timeout=60):
    """Messages until one satisfies predicate; returns them all."""
    seen = []
    while True:
        seen.append(await receive(ws, timeout))
        if predicate(seen[-1]):
            return seen


class PushTest(unittest.TestCase):
    def setUp(self):
        self.server = ImgpipeServer("--demo")
        self.api = Api(self.server)
        self.client = self.api.provision()
        self.study, self.series, images = self.api.ct()
        self.image = images[0]

    def tearDown(self):
        self.server.cleanup()

    def submit(self, algorithm="window_level", client=None):
        status, _, reply = self.api.process(algorithm, {
            "study_id": self.study, "series_id": self.series, "image_id": self.image,
            "client_id": client or self.client})
        self.assertEqual(status, 202, reply)
        return reply["job_id"]

    def run_async(self, coroutine):
        return asyncio.run(coroutine)

    def test_hello_then_live_result(self):
        async def scenario():
            async with websockets.connect(ws_url(self.server, self.client)) as ws:
                hello = await receive(ws)
                self.assertEqual(hello, {"type": "hello", "client_id": self.client, "last_seq": 0})
                job = self.submit()
                result = await receive(ws)
                self.assertEqual(result["type"], "result")
                self.assertEqual(result["seq"], 1)
                self.assertEqual(result["job_id"], job)
                self.assertEqual(result["status"], "succeeded")
                self.assertEqual(result["outputs"]["image"], f"/api/results/{job}/image.png")
                await ws.send(json.dumps({"action": "ping"}))
                self.assertEqual(await receive(ws), {"type": "pong"})
                for bad in ("not json", "[1]", json.dumps({"action": "dance"}),
                            json.dumps({"action": "resume", "last_seq": -1})):
                    await ws.send(bad)
                    reply = await receive(ws)
                    self.assertEqual(reply["type"], "error", bad)
                    self.assertEqual(reply["error"]["code"], "invalid_argument")
                await ws.send(json.dumps({"action": "ping"}))  # still open after bad messages
                self.assertEqual(await receive(ws), {"type": "pong"})
        self.run_async(scenario())

    def test_unknown_or_missing_client_is_refused_before_upgrade(self):
        async def scenario():
            for url in (ws_url(self.server, "nobody"),
                        f"ws://{self.server.host}:{self.server.port}/ws"):
                with self.assertRaises(websockets.exceptions.InvalidStatusCode) as refused:
                    async with websockets.connect(url):
                        pass
                self.assertEqual(refused.exception.status_code, 401)
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as refused:
                async with websockets.connect(ws_url(self.server, self.client, "x")):
                    pass
            self.assertEqual(refused.exception.status_code, 400)
        self.run_async(scenario())
        # A plain GET on the endpoint asks for an upgrade.
        status, headers, _ = self.server.request("GET", f"/ws?client_id={self.client}")
        self.assertEqual(status, 426)

    def test_missed_results_are_replayed_exactly_once(self):
        async def scenario():
            async with websockets.connect(ws_url(self.server, self.client)) as ws:
                await receive(ws)
                first = self.submit()
                self.assertEqual((await receive(ws))["job_id"], first)
            # Offline: two results arrive meanwhile.
            missed = [self.submit(), self.submit("clahe")]
            for job in missed:
                self.api.wait_terminal(job, self.client)
            wait_for(lambda: self.server.get_json(
                f"/api/events?client_id={self.client}")["last_seq"] == 3, "events stored")
            async with websockets.connect(ws_url(self.server, self.client, 1)) as ws:
                hello = await receive(ws)
                self.assertEqual(hello["last_seq"], 3)
                replayed = [await receive(ws), await receive(ws)]
                self.assertEqual([e["seq"] for e in replayed], [2, 3])
                # Two algorithms' queues run in parallel: either may finish first.
                self.assertEqual(sorted(e["job_id"] for e in replayed), sorted(missed))
                live = self.submit()
                nxt = await receive(ws)
                self.assertEqual((nxt["seq"], nxt["job_id"]), (4, live))  # no duplicate, no gap
                # Resume on the open socket replays again from the point asked.
                await ws.send(json.dumps({"action": "resume", "last_seq": 2}))
                again = [await receive(ws), await receive(ws)]
                self.assertEqual([e["seq"] for e in again], [3, 4])
        self.run_async(scenario())

    def test_last_seq_beyond_the_store_still_gets_new_events(self):
        async def scenario():
            async with websockets.connect(ws_url(self.server, self.client, 999)) as ws:
                self.assertEqual((await receive(ws))["last_seq"], 0)
                job = self.submit()
                event = await receive(ws)
                self.assertEqual((event["seq"], event["job_id"]), (1, job))
        self.run_async(scenario())

    def test_two_tabs_both_receive(self):
        async def scenario():
            async with websockets.connect(ws_url(self.server, self.client)) as a, \
                    websockets.connect(ws_url(self.server, self.client)) as b:
                await receive(a)
                await receive(b)
                job = self.submit()
                self.assertEqual((await receive(a))["job_id"], job)
                self.assertEqual((await receive(b))["job_id"], job)
        self.run_async(scenario())

    def test_oversize_message_closes_with_1009(self):
        async def scenario():
            async with websockets.connect(ws_url(self.server, self.client),
                                          max_size=None) as ws:
                await receive(ws)
                await ws.send("x" * (70 << 10))
                with self.assertRaises(websockets.exceptions.ConnectionClosed) as closed:
                    await receive(ws, timeout=10)
                self.assertEqual(closed.exception.code, 1009)
        self.run_async(scenario())
        self.assertEqual(self.server.request("GET", "/healthz")[0], 200)

    def test_nothing_lost_across_a_restart(self):
        job = self.submit()
        self.api.wait_terminal(job, self.client)
        wait_for(lambda: self.server.get_json(
            f"/api/events?client_id={self.client}")["last_seq"] == 1, "event stored")
        data_dir = self.server.data_dir
        self.server.stop(signal.SIGTERM)
        self.server = ImgpipeServer(data_dir=data_dir)
        self.server.stop(signal.SIGKILL)
        self.server = ImgpipeServer(data_dir=data_dir)
        self.server.owns_data_dir = True  # tearDown removes it

        async def scenario():
            async with websockets.connect(ws_url(self.server, self.client, 0)) as ws:
                self.assertEqual((await receive(ws))["last_seq"], 1)
                event = await receive(ws)
                self.assertEqual((event["seq"], event["job_id"]), (1, job))
        self.run_async(scenario())


if __name__ == "__main__":
    unittest.main(verbosity=2)
