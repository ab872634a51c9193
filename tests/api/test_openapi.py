#!/usr/bin/python3
"""GET /openapi.json on a live `imgpipe serve --demo`: a well-formed OpenAPI 3 document, and every
operation it documents reaches a route of the server (never the router's "no route" 404 or 405).
The other direction, every registered route documented, is app_test's ServeRoutesTest, which
builds the same router serve builds (RegisterServeRoutes) and compares it with the document."""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402


class OpenApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # No web frontend: its fallback would answer paths no route serves.
        cls.server = ImgpipeServer("--demo", "--web-root=")
        status, headers, body = cls.server.request("GET", "/openapi.json")
        assert status == 200, (status, body[:200])
        cls.content_type = headers.get("content-type")
        cls.doc = json.loads(body)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def operations(self):
        for path, item in self.doc["paths"].items():
            for method, op in item.items():
                yield method, path, op

    def test_document_structure(self):
        self.assertEqual(self.content_type, "application/json")
        self.assertTrue(self.doc["openapi"].startswith("3.0"))
        self.assertIn("title", self.doc["info"])
        schemas = self.doc["components"]["schemas"]
        for name in ("Error", "Provision", "ProcessRequest", "ProcessAccepted", "Job"):
            self.assertIn(name, schemas)
        self.assertEqual(schemas["Error"]["properties"]["error"]["required"], ["code", "message"])
        ops = list(self.operations())
        self.assertGreaterEqual(len(ops), 35)
        for method, path, op in ops:
            self.assertIn(method, ("get", "post", "put", "delete", "patch", "head"))
            self.assertTrue(path.startswith("/"), path)
            self.assertTrue(op["responses"], (method, path))
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            self.assertEqual(declared, set(re.findall(r"\{([^}]+)\}", path)), (method, path))
        process = self.doc["paths"]["/api/process/{algorithm}"]["post"]
        self.assertIn("202", process["responses"])
        self.assertIn("requestBody", process)
        for path in ("/pacs/studies", "/dicomweb/studies", "/api/provision", "/api/jobs/{job_id}",
                     "/ws", "/healthz", "/readyz", "/version", "/openapi.json", "/api/info",
                     "/metrics"):
            self.assertIn(path, self.doc["paths"])

    def reaches_a_route(self, method, path):
        """True when the router found a route for (method, path): the answer is the handler's,
        whatever its status, not the router's 404 "no route" nor its 405."""
        status, _, body = self.server.request(method.upper(), path, body=b"")
        if status == 405:
            return False
        if status == 404 and body:
            try:
                message = json.loads(body)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                return True
            return not message.startswith("no route for")
        return True

    def test_every_documented_operation_is_served(self):
        for method, path, _ in self.operations():
            concrete = re.sub(r"\{(frames?)\}", "1", path)
            concrete = re.sub(r"\{[^}]+\}", "x", concrete)
            self.assertTrue(self.reaches_a_route(method, concrete), f"{method.upper()} {path}")

    def test_probe_tells_a_missing_route(self):
        self.assertFalse(self.reaches_a_route("get", "/api/no-such-endpoint"))
        self.assertFalse(self.reaches_a_route("put", "/api/jobs/x"))  # 405


if __name__ == "__main__":
    unittest.main()
