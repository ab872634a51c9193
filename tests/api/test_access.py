#!/usr/bin/python3
"""Access control against a live `imgpipe serve` (docs/security.md): the admin key generated at
first start, admin operations (uploads, STOW, dead letters), API keys and JWTs (made by Debian's
python3-jwt, an independent implementation) for PACS reads and submissions, and every request of
one client for another's jobs, results, events and WebSocket refused."""
import asyncio
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import jwt  # Debian python3-jwt
import websockets
from cryptography.hazmat.primitives.asymmetric import ec, rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from test_jobs_api import Api  # noqa: E402

ADMIN_KEY = "access-test-admin-key-0123456789"
API_KEY = "access-test-api-key-0123456789ab"
ISSUER = "https://idp.hospital.example/realms/radiology"
AUDIENCE = "imgpipe"


def bearer(token):
    return {"Authorization": "Bearer " + token}


def demo_file():
    """The smallest file of the demo dataset, written by `imgpipe demo --out`."""
    out = tempfile.mkdtemp(prefix="imgpipe-access-demo-")
    try:
        binary = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
        subprocess.run([binary, "demo", "--out", out], check=True, capture_output=True,
                       timeout=120)
        files = [os.path.join(root, n) for root, _, names in os.walk(out) for n in names]
        with open(min(files, key=os.path.getsize), "rb") as f:
            return f.read()
    finally:
        shutil.rmtree(out, ignore_errors=True)


class AdminKeyGeneratedTest(unittest.TestCase):
    """No admin key configured and not --demo: one is made, shown once, kept as a digest."""

    def test_generated_once_kept_in_a_private_file_and_required(self):
        server = ImgpipeServer(env={"IMGPIPE_ADMIN_KEY": ""})
        data_dir = server.data_dir
        try:
            key_file = os.path.join(data_dir, "admin.key")
            with open(key_file) as f:
                key = f.read().strip()
            self.assertEqual(stat.S_IMODE(os.stat(key_file).st_mode), 0o600)
            self.assertRegex(key, r"^[A-Za-z0-9_-]{43}$")
            # Shown once, on stderr (read by a thread: wait for it).
            deadline = time.monotonic() + 30
            while key not in "".join(server.stderr_lines) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn(key, "".join(server.stderr_lines))
            # Only the banner shows it: no log line (they start with "[") carries it.
            for line in server.stderr_lines:
                if line.startswith("["):
                    self.assertNotIn(key, line)
            # The database keeps its digest only.
            with open(os.path.join(data_dir, "imgpipe.db"), "rb") as f:
                self.assertNotIn(key.encode(), f.read())

            dicom = demo_file()
            upload = {"Content-Type": "application/dicom"}
            status, headers, body = server.request("POST", "/pacs/images", dicom, upload)
            self.assertEqual(status, 401, body)
            self.assertEqual(headers["www-authenticate"], "Bearer")
            self.assertIn("admin key", json.loads(body)["error"]["message"])
            status, headers, _ = server.request("POST", "/pacs/images", dicom,
                                                {**upload, **bearer("wrong-key-0123456789abcdef")})
            self.assertEqual(status, 401)
            self.assertEqual(headers["www-authenticate"], 'Bearer error="invalid_token"')
            status, _, body = server.request("POST", "/pacs/images", dicom,
                                             {**upload, **bearer(key)})
            self.assertEqual(status, 201, body)
            # Reads stay open when no API key or JWT issuer is configured.
            self.assertEqual(server.get_json("/pacs/studies")["total"], 1)
        finally:
            server.stop()
        # A restart keeps the key: none is generated again, and the first still works.
        again = ImgpipeServer(env={"IMGPIPE_ADMIN_KEY": ""}, data_dir=data_dir)
        try:
            self.assertNotIn("generated the admin key", "".join(again.stderr_lines))
            status, _, _ = again.request("POST", "/dicomweb/studies", b"",
                                         {"Content-Type": "application/dicom"})
            self.assertEqual(status, 401)
            status, _, body = again.request(
                "GET", "/api/queues/results/dead-letters", headers=bearer(key))
            self.assertEqual(status, 200, body)
        finally:
            again.cleanup()
            shutil.rmtree(data_dir, ignore_errors=True)

    def test_demo_without_a_key_runs_open(self):
        server = ImgpipeServer("--demo", env={"IMGPIPE_ADMIN_KEY": ""})
        try:
            self.assertFalse(os.path.exists(os.path.join(server.data_dir, "admin.key")))
            status, _, body = server.request("GET", "/api/queues/results/dead-letters")
            self.assertEqual(status, 200, body)
            self.assertTrue(any("--demo without an admin key" in line
                                for line in server.stderr_lines))
        finally:
            server.cleanup()


class CredentialsTest(unittest.TestCase):
    """API keys and JWTs configured: PACS reads and submissions need one; admin needs more."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="imgpipe-access-")
        cls.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.ec = ec.generate_private_key(ec.SECP256R1())
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cls.stranger = other  # signs tokens with a key the server does not know
        jwks = {"keys": []}
        for kid, key, alg in (("rsa-1", cls.rsa, "RS256"), ("ec-1", cls.ec, "ES256")):
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig"})
            jwks["keys"].append(jwk)
        jwks_path = os.path.join(cls.dir, "jwks.json")
        with open(jwks_path, "w") as f:
            json.dump(jwks, f)
        keys_path = os.path.join(cls.dir, "api-keys")
        with open(keys_path, "w") as f:
            f.write("# imgpipe API keys\n" + API_KEY + "\n")
        cls.server = ImgpipeServer("--demo", env={
            "IMGPIPE_ADMIN_KEY": ADMIN_KEY,
            "IMGPIPE_AUTH_API_KEYS_FILE": keys_path,
            "IMGPIPE_AUTH_JWT_JWKS_FILE": jwks_path,
            "IMGPIPE_AUTH_JWT_ISSUER": ISSUER,
            "IMGPIPE_AUTH_JWT_AUDIENCE": AUDIENCE})
        cls.api = Api(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def token(self, key=None, kid="rsa-1", alg="RS256", lifetime=300, **claims):
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "dr.rossi", "iat": now,
                   "exp": now + lifetime, **claims}
        return jwt.encode(payload, key or self.rsa, algorithm=alg, headers={"kid": kid})

    def status_of(self, method, path, headers=None, body=None):
        return self.server.request(method, path, body, headers or {})[0]

    def test_pacs_reads_need_a_credential(self):
        for path in ("/pacs/studies", "/dicomweb/studies", "/api/algorithms", "/api/queues"):
            self.assertEqual(self.status_of("GET", path), 401, path)
            self.assertEqual(self.status_of("GET", path, bearer(API_KEY)), 200, path)
            self.assertEqual(self.status_of("GET", path, bearer(self.token())), 200, path)
            self.assertEqual(self.status_of("GET", path, bearer(ADMIN_KEY)), 200, path)
        # For <img> sources: the token as the access_token query parameter (GET only).
        self.assertEqual(self.status_of("GET", "/pacs/studies?access_token=" + API_KEY), 200)
        self.assertEqual(self.status_of("POST", "/api/provision?access_token=" + API_KEY), 401)

    def test_operations_and_the_frontend_stay_public(self):
        for path in ("/healthz", "/readyz", "/version", "/metrics", "/openapi.json", "/api/info"):
            self.assertEqual(self.status_of("GET", path), 200, path)

    def test_bad_tokens_are_refused_with_a_reason(self):
        cases = {
            "token expired": self.token(lifetime=-120),
            "issuer": self.token(iss="https://evil.example"),
            "audience": self.token(aud="someone-else"),
            "signature": self.token(key=self.stranger),
            "unknown key": self.token(kid="nope"),
        }
        for reason, token in cases.items():
            status, headers, body = self.server.request("GET", "/pacs/studies",
                                                        headers=bearer(token))
            self.assertEqual(status, 401, reason)
            self.assertEqual(headers["www-authenticate"], 'Bearer error="invalid_token"', reason)
            message = json.loads(body)["error"]["message"]
            self.assertIn("bearer token refused", message, reason)
            self.assertNotIn(token, message)
        # alg "none" and HS256 keyed with public material are never accepted.
        unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60},
                              None, algorithm="none")
        self.assertEqual(self.status_of("GET", "/pacs/studies", bearer(unsigned)), 401)
        # Other schemes are not credentials.
        self.assertEqual(self.status_of("GET", "/pacs/studies",
                                        {"Authorization": "Basic " + API_KEY}), 401)

    def test_ec_tokens_and_submissions(self):
        token = self.token(key=self.ec, kid="ec-1", alg="ES256")
        self.assertEqual(self.status_of("POST", "/api/provision"), 401)
        status, _, body = self.server.request("POST", "/api/provision", None, bearer(token))
        self.assertEqual(status, 201, body)
        client = json.loads(body)["client_id"]
        study = self.server.request("GET", "/pacs/studies?ModalitiesInStudy=CT", None,
                                    bearer(token))
        study_id = json.loads(study[2])["studies"][0]["study_id"]
        detail = json.loads(self.server.request("GET", f"/pacs/studies/{study_id}", None,
                                                bearer(token))[2])
        series = [s for s in detail["series"] if s["modality"] == "CT"][0]["series_id"]
        images = json.loads(self.server.request(
            "GET", f"/pacs/studies/{study_id}/series/{series}", None, bearer(token))[2])
        job = {"study_id": study_id, "series_id": series,
               "image_id": images["images"][0]["image_id"], "client_id": client}
        status, _, _ = self.api.process("window_level", job)
        self.assertEqual(status, 401)
        status, _, reply = self.api.process("window_level", job, bearer(token))
        self.assertEqual(status, 202, reply)
        # The client's own job needs its client_id only (the browser holds no other secret).
        self.assertEqual(self.status_of("GET", f"/api/jobs/{reply['job_id']}?client_id={client}"),
                         200)

    def test_the_cli_sends_imgpipe_token(self):
        binary = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMGPIPE_")}
        env["API_BASE"] = self.server.base + "/api"
        refused = subprocess.run([binary, "provision"], capture_output=True, text=True, env=env,
                                 timeout=60)
        self.assertEqual(refused.returncode, 3, refused.stderr)  # refused by the server
        self.assertIn("HTTP 401", refused.stderr)
        for token in (API_KEY, self.token()):
            done = subprocess.run([binary, "provision"], capture_output=True, text=True,
                                  env={**env, "IMGPIPE_TOKEN": token}, timeout=60)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertRegex(done.stdout.strip(), r"^[A-Za-z0-9_-]{22}$")

    def test_admin_operations_need_the_admin_key_or_an_admin_token(self):
        stow = {"Content-Type": 'multipart/related; type="application/dicom"; boundary=b'}
        empty = b"--b--\r\n"
        for path in ("/pacs/images", "/dicomweb/studies"):
            status, headers, _ = self.server.request("POST", path, empty, stow)
            self.assertEqual(status, 401, path)
            self.assertEqual(headers["www-authenticate"], "Bearer", path)  # none given: no error
            status, headers, _ = self.server.request("POST", path, empty,
                                                     {**stow, **bearer(API_KEY)})
            self.assertEqual(status, 403, path)
            self.assertEqual(headers["www-authenticate"], 'Bearer error="insufficient_scope"')
            self.assertEqual(self.status_of("POST", path, {**stow, **bearer(self.token())},
                                            empty), 403, path)
            for key in (ADMIN_KEY, self.token(scope="openid imgpipe:admin")):
                self.assertNotIn(self.status_of("POST", path, {**stow, **bearer(key)}, empty),
                                 (401, 403), path)
        letters = "/api/queues/algo.window_level/dead-letters"
        self.assertEqual(self.status_of("GET", letters, bearer(API_KEY)), 403)
        status, _, body = self.server.request("GET", letters, None, bearer(ADMIN_KEY))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["dead_letters"], [])
        status, _, body = self.server.request("POST", "/api/queues/algo.window_level/redrive",
                                              None, bearer(ADMIN_KEY))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["redriven"], 0)
        for bad in ("/api/queues/no.such.queue/dead-letters",
                    "/api/queues/results.dlq/dead-letters"):
            self.assertEqual(self.status_of("GET", bad, bearer(ADMIN_KEY)), 404, bad)
        self.assertEqual(self.status_of("GET", letters + "?limit=0", bearer(ADMIN_KEY)), 400)


class CrossClientTest(unittest.TestCase):
    """Everything of a client is reachable only with its client_id."""

    @classmethod
    def setUpClass(cls):
        cls.server = ImgpipeServer("--demo")
        cls.api = Api(cls.server)
        cls.owner = cls.api.provision()
        cls.other = cls.api.provision()
        study, series, images = cls.api.ct()
        status, _, reply = cls.api.process("window_level", {
            "study_id": study, "series_id": series, "image_id": images[0],
            "client_id": cls.owner})
        assert status == 202, reply
        cls.job = cls.api.wait_terminal(reply["job_id"], cls.owner)
        assert cls.job["status"] == "succeeded", cls.job

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_jobs_results_and_cancel_of_another_client_are_refused(self):
        jid = self.job["job_id"]
        paths = [("GET", f"/api/jobs/{jid}"), ("DELETE", f"/api/jobs/{jid}")]
        paths += [("GET", url) for url in self.job["outputs"].values()]
        for method, path in paths:
            for who, expected in ((self.other, 403), ("", 401), ("x" * 22, 401)):
                status, _, body = self.server.request(method, f"{path}?client_id={who}")
                self.assertEqual(status, expected, (method, path, who, body))
                self.assertNotIn(b"window_level", body)
            status, _, _ = self.server.request(method, path, headers={"X-Client-Id": self.other})
            self.assertEqual(status, 403, (method, path))
        self.assertEqual(self.api.job(jid, self.owner)["status"], "succeeded")

    def test_lists_and_events_hold_only_the_asking_clients(self):
        theirs = self.server.get_json(f"/api/jobs?client_id={self.other}")["jobs"]
        self.assertEqual(theirs, [])
        mine = self.server.get_json(f"/api/jobs?client_id={self.owner}")["jobs"]
        self.assertIn(self.job["job_id"], [j["job_id"] for j in mine])
        events = self.server.get_json(f"/api/events?client_id={self.other}")["events"]
        self.assertEqual(events, [])
        own = self.server.get_json(f"/api/events?client_id={self.owner}")["events"]
        self.assertIn(self.job["job_id"], [e.get("job_id") for e in own])
        for who in ("", "not-a-client"):
            status, _, _ = self.server.request("GET", f"/api/events?client_id={who}")
            self.assertEqual(status, 401, who)

    def test_a_websocket_carries_only_its_clients_events(self):
        async def hello_and_replay(client):
            url = f"ws://{self.server.host}:{self.server.port}/ws?client_id={client}&last_seq=0"
            async with websockets.connect(url) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
                await ws.send(json.dumps({"action": "ping"}))
                seen = []
                while True:  # replayed events, then the pong
                    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if message["type"] == "pong":
                        return hello, seen
                    seen.append(message)

        hello, seen = asyncio.run(hello_and_replay(self.other))
        self.assertEqual(hello["client_id"], self.other)
        self.assertEqual(seen, [])
        _, own = asyncio.run(hello_and_replay(self.owner))
        self.assertIn(self.job["job_id"], [m.get("job_id") for m in own])

        async def refused(client):
            url = f"ws://{self.server.host}:{self.server.port}/ws?client_id={client}"
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as caught:
                async with websockets.connect(url):
                    pass
            return caught.exception.status_code

        self.assertEqual(asyncio.run(refused("forged-client-id-000000")), 401)


if __name__ == "__main__":
    unittest.main(verbosity=2)
