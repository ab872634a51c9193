#!/usr/bin/python3
"""Limits and CORS against a live `imgpipe serve` (issue 9, points 1 and 2): submissions per client and per
address, provisions and WebSocket connections per address, jobs queued per client, WebSocket
connections per client; each refused with 429, a clear message and Retry-After, while other
clients and addresses go on."""
import asyncio
import json
import os
import sys
import unittest

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from test_jobs_api import Api  # noqa: E402


def limits(**values):
    """IMGPIPE_LIMITS_* variables; every limit off unless given (the test sets one at a time)."""
    env = {"IMGPIPE_LIMITS_SUBMITS_PER_S_PER_CLIENT": "0",
           "IMGPIPE_LIMITS_SUBMITS_PER_S_PER_ADDRESS": "0",
           "IMGPIPE_LIMITS_CONNECTS_PER_S_PER_ADDRESS": "0",
           "IMGPIPE_LIMITS_MAX_ACTIVE_JOBS_PER_CLIENT": "0",
           "IMGPIPE_LIMITS_MAX_CONNECTIONS_PER_CLIENT": "0",
           # Rates of 1 per second with bursts of 3: a test's calls take far less than the
           # second a token needs to come back, even under sanitizers.
           "IMGPIPE_LIMITS_BURST_S": "3"}
    env.update({f"IMGPIPE_LIMITS_{k.upper()}": str(v) for k, v in values.items()})
    return env


class LimitsTest(unittest.TestCase):
    def start(self, *args, **limit_values):
        server = ImgpipeServer("--demo", *args, env=limits(**limit_values))
        self.addCleanup(server.cleanup)
        api = Api(server)
        study, series, images = api.ct()
        body = {"study_id": study, "series_id": series, "image_id": images[0]}
        return server, api, body

    def until_limited(self, call, words, at_least=2):
        """Calls `call` (-> status, headers, reply) until it is refused; checks the refusal and
        that at least `at_least` calls passed first."""
        passed = 0
        for _ in range(20):
            status, headers, reply = call()
            if status != 429:
                self.assertLess(status, 300, reply)
                passed += 1
                continue
            self.assert_limited(status, headers, reply, words)
            self.assertGreaterEqual(passed, at_least)
            return passed
        self.fail(f"never refused after {passed} calls")

    def assert_limited(self, status, headers, reply, words):
        self.assertEqual(status, 429, reply)
        self.assertEqual(reply["error"]["code"], "resource_exhausted")
        self.assertIn(words, reply["error"]["message"])
        self.assertGreaterEqual(int(headers["retry-after"]), 1)

    def test_submissions_per_client(self):
        server, api, body = self.start("--roles", "api", submits_per_s_per_client=1)
        first, second = api.provision(), api.provision()
        self.until_limited(lambda: api.process("window_level", dict(body, client_id=first)),
                           "too many submissions for this client", at_least=3)
        # Another client has its own budget.
        status, _, reply = api.process("window_level", dict(body, client_id=second))
        self.assertEqual(status, 202, reply)

    def test_submissions_and_provisions_per_address_behind_a_trusted_proxy(self):
        server, api, body = self.start("--roles", "api", submits_per_s_per_address=1,
                                       connects_per_s_per_address=1)
        client = api.provision()

        def provision():
            status, headers, data = server.request("POST", "/api/provision")
            return status, headers, json.loads(data)

        self.until_limited(provision, "too many clients provisioned from 127.0.0.1")

        def submit(forwarded_for=None):
            headers = {"Content-Type": "application/json"}
            if forwarded_for:
                headers["X-Forwarded-For"] = forwarded_for
            status, headers, data = server.request(
                "POST", "/api/process/window_level", json.dumps(dict(body, client_id=client)),
                headers)
            return status, headers, json.loads(data)

        self.until_limited(submit, "too many submissions from 127.0.0.1", at_least=3)
        # 127.0.0.1 is a trusted proxy by default: the address is the one it appended last
        # (what a client put before it is ignored), each with its own budget.
        self.until_limited(lambda: submit("10.9.9.9, 10.0.0.1"),
                           "too many submissions from 10.0.0.1", at_least=3)
        self.assertEqual(submit("10.0.0.2")[0], 202)

    def test_untrusted_peer_cannot_pick_its_address(self):
        server, api, body = self.start("--roles", "api", submits_per_s_per_address=1,
                                       trusted_proxies="")
        client = api.provision()
        forged = iter(f"10.0.0.{i}" for i in range(1, 100))

        def submit():
            status, headers, data = server.request(
                "POST", "/api/process/window_level", json.dumps(dict(body, client_id=client)),
                {"Content-Type": "application/json", "X-Forwarded-For": next(forged)})
            return status, headers, json.loads(data)

        # A new forged address on every call changes nothing: the peer is the address.
        self.until_limited(submit, "too many submissions from 127.0.0.1", at_least=3)

    def test_json_body_size_and_depth(self):
        server, api, body = self.start("--roles", "api", max_json_kb=1, max_json_depth=4)
        client = api.provision()

        def post(payload):
            status, _, data = server.request("POST", "/api/process/window_level", payload,
                                             {"Content-Type": "application/json"})
            return status, json.loads(data)

        status, reply = post(json.dumps(dict(body, client_id=client, params={"width": 400})))
        self.assertEqual(status, 202, reply)
        status, reply = post(json.dumps(dict(body, client_id=client, params={"x": "y" * 2000})))
        self.assertEqual(status, 413, reply)
        self.assertIn("larger than 1024 bytes", reply["error"]["message"])
        status, reply = post(json.dumps(dict(body, client_id=client,
                                             params={"a": {"b": {"c": {"d": 1}}}})))
        self.assertEqual(status, 400, reply)
        self.assertIn("not valid JSON", reply["error"]["message"])

    def test_jobs_queued_per_client(self):
        # No workers: jobs stay queued.
        server, api, body = self.start("--roles", "api", max_active_jobs_per_client=2)
        client, other = api.provision(), api.provision()
        ids = []
        for _ in range(2):
            status, _, reply = api.process("clahe", dict(body, client_id=client))
            self.assertEqual(status, 202, reply)
            ids.append(reply["job_id"])
        status, headers, reply = api.process("canny", dict(body, client_id=client))
        self.assert_limited(status, headers, reply, "2 jobs queued or running (limit 2)")
        self.assertEqual(api.process("canny", dict(body, client_id=other))[0], 202)
        # A cancelled job no longer counts.
        status, _, _ = server.request("DELETE", f"/api/jobs/{ids[0]}?client_id={client}")
        self.assertEqual(status, 200)
        self.assertEqual(api.process("canny", dict(body, client_id=client))[0], 202)

    def test_websocket_connections_per_client(self):
        server, api, _ = self.start(max_connections_per_client=2)
        client = api.provision()
        url = f"ws://{server.host}:{server.port}/ws?client_id={client}"

        async def scenario():
            first = await websockets.connect(url)
            second = await websockets.connect(url)
            for ws in (first, second):
                self.assertEqual(json.loads(await ws.recv())["type"], "hello")
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as refused:
                await websockets.connect(url)
            self.assertEqual(refused.exception.status_code, 429)
            await first.close()
            # Once the server has seen the close, there is room again.
            for _ in range(100):
                try:
                    third = await websockets.connect(url)
                    break
                except websockets.exceptions.InvalidStatusCode:
                    await asyncio.sleep(0.05)
            else:
                self.fail("no room after a connection closed")
            self.assertEqual(json.loads(await third.recv())["type"], "hello")
            await second.close()
            await third.close()
        asyncio.run(scenario())

    def test_websocket_connects_per_address(self):
        server, api, _ = self.start(connects_per_s_per_address=1)
        client = api.provision()  # takes one token too
        url = f"ws://{server.host}:{server.port}/ws?client_id={client}"

        async def scenario():
            opened = []
            for _ in range(20):
                try:
                    opened.append(await websockets.connect(url))
                except websockets.exceptions.InvalidStatusCode as refused:
                    self.assertEqual(refused.status_code, 429)
                    break
            else:
                self.fail("never refused")
            self.assertGreaterEqual(len(opened), 1)
            for ws in opened:
                await ws.close()
        asyncio.run(scenario())


class CorsTest(unittest.TestCase):
    """http.cors_origins: browsers on the listed origins may call the API; no one else."""

    def test_listed_origin_only(self):
        server = ImgpipeServer("--demo", env={
            "IMGPIPE_HTTP_CORS_ORIGINS": "https://viewer.example, https://other.example"})
        self.addCleanup(server.cleanup)
        status, headers, _ = server.request("OPTIONS", "/api/process/window_level", headers={
            "Origin": "https://other.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key"})
        self.assertEqual(status, 204)
        self.assertEqual(headers["access-control-allow-origin"], "https://other.example")
        self.assertIn("Idempotency-Key", headers["access-control-allow-headers"])
        status, headers, _ = server.request("GET", "/pacs/studies",
                                            headers={"Origin": "https://viewer.example"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["access-control-allow-origin"], "https://viewer.example")
        status, headers, _ = server.request("GET", "/pacs/studies",
                                            headers={"Origin": "https://evil.example"})
        self.assertNotIn("access-control-allow-origin", headers)


if __name__ == "__main__":
    unittest.main(verbosity=2)
