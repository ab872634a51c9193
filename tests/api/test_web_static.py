#!/usr/bin/python3
"""The web frontend served at "/" by a live `imgpipe serve --web-root DIR`, beside the APIs."""
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402

INDEX = b"<!doctype html><title>imgpipe test app</title>"
ASSET = b"console.log('imgpipe test asset');"


class WebStaticTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.web = tempfile.mkdtemp(prefix="imgpipe-web-")
        os.makedirs(os.path.join(cls.web, "assets"))
        with open(os.path.join(cls.web, "index.html"), "wb") as f:
            f.write(INDEX)
        with open(os.path.join(cls.web, "assets", "x.js"), "wb") as f:
            f.write(ASSET)
        cls.server = ImgpipeServer("--web-root", cls.web, "--roles", "api")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.web, ignore_errors=True)

    def test_index_at_root(self):
        status, headers, body = self.server.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertEqual(body, INDEX)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertEqual(headers["cache-control"], "no-cache")

    def test_asset_cached_and_revalidated(self):
        status, headers, body = self.server.request("GET", "/assets/x.js")
        self.assertEqual(status, 200)
        self.assertEqual(body, ASSET)
        self.assertEqual(headers["content-type"], "text/javascript; charset=utf-8")
        self.assertIn("immutable", headers["cache-control"])
        status, _, body = self.server.request(
            "GET", "/assets/x.js", headers={"If-None-Match": headers["etag"]})
        self.assertEqual(status, 304)
        self.assertEqual(body, b"")

    def test_client_route_gets_the_app(self):
        status, _, body = self.server.request("GET", "/studies/1.2.840.10008")
        self.assertEqual(status, 200)
        self.assertEqual(body, INDEX)

    def test_unknown_api_path_stays_json_404(self):
        for path in ("/api/no-such-thing", "/pacs/no-such-thing", "/assets/missing.js",
                     "/assets/%2e%2e/%2e%2e/etc/passwd"):
            status, headers, body = self.server.request("GET", path)
            self.assertEqual(status, 404, path)
            self.assertEqual(headers["content-type"], "application/json", path)
            self.assertEqual(json.loads(body)["error"]["code"], "not_found", path)

    def test_apis_still_answer(self):
        self.assertEqual(self.server.get_json("/healthz")["status"], "ok")


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
