#!/usr/bin/python3
"""The shipped deploy/nginx/imgpipe-tls.conf (only its marked lines rewritten) terminating TLS in
front of one `imgpipe serve --demo`, with a certificate from a throw-away CA made by the openssl
command. Every HTTPS client verifies nginx against that CA only. Checks: the APIs over HTTPS;
plain HTTP redirected, never proxied; TLS 1.2 and 1.3 only, AEAD ciphers only, HSTS, HTTP/2,
session resumption; a job's result delivered over wss:// through nginx; imgpipe's per-address
limits seeing the client's address (X-Forwarded-For) on both the HTTP and the WebSocket
location; X-Request-Id passed both ways."""
import asyncio
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from nginx_server import TlsNginxServer  # noqa: E402
from test_jobs_api import Api  # noqa: E402
from test_push_api import receive  # noqa: E402

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def make_certificates(folder):
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it (RSA 2048, two
    days). Returns (ca.pem, server.pem, server.key)."""
    def run(*args):
        subprocess.run([OPENSSL, *args], check=True, capture_output=True, cwd=folder)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=imgpipe throw-away test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(folder, "server.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n"
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return tuple(os.path.join(folder, name) for name in ("ca.pem", "server.pem", "server.key"))


def tls11_client_hello():
    """A TLS 1.1 ClientHello (no supported_versions extension, so 1.1 is the client's highest),
    built by hand: the local OpenSSL may refuse to send one at all."""
    suites = [0xC013, 0xC014, 0x002F, 0x0035, 0x00FF]  # ECDHE-RSA/RSA AES-CBC-SHA, SCSV
    groups = struct.pack("!HHH", 4, 0x001D, 0x0017)  # x25519, secp256r1
    extensions = (struct.pack("!HH", 0x000A, len(groups)) + groups +
                  struct.pack("!HHBB", 0x000B, 2, 1, 0))  # ec_point_formats: uncompressed
    body = (b"\x03\x02" + secrets.token_bytes(32) + b"\x00" +
            struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", s) for s in suites) +
            b"\x01\x00" + struct.pack("!H", len(extensions)) + extensions)
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def websocket_upgrade_headers():
    return {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


class TlsNginxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix="imgpipe-tls-")
        cls.ca, cert, key = make_certificates(cls.certs)
        # New connections (provisions, WebSockets) limited per client address to bursts of 3,
        # so the address imgpipe sees shows in its 429s; submissions unlimited. nginx reaches
        # imgpipe from 127.0.0.1, its trusted proxy.
        cls.server = ImgpipeServer("--demo", env={
            "IMGPIPE_LIMITS_SUBMITS_PER_S_PER_CLIENT": "0",
            "IMGPIPE_LIMITS_SUBMITS_PER_S_PER_ADDRESS": "0",
            "IMGPIPE_LIMITS_CONNECTS_PER_S_PER_ADDRESS": "1",
            "IMGPIPE_LIMITS_BURST_S": "3",
            "IMGPIPE_LIMITS_TRUSTED_PROXIES": "127.0.0.1"})
        address = f"127.0.0.1:{cls.server.port}"
        try:
            cls.nginx = TlsNginxServer(api=[address], push=[address], cert=cert, key=key,
                                       ca=cls.ca)
        except Exception:
            cls.server.cleanup()
            raise
        cls.api = Api(cls.nginx)  # every call below goes through nginx, over HTTPS

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        cls.server.cleanup()
        shutil.rmtree(cls.certs, ignore_errors=True)

    def handshake(self, server_hostname="127.0.0.1", alpn=None, session=None, ctx=None,
                  **versions):
        """A TLS handshake with nginx verified against the test CA (or with ctx); returns the
        SSLSocket's (version, cipher name, ALPN protocol, session, session_reused)."""
        ctx = ctx or self.nginx.context(**versions)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        with socket.create_connection((self.nginx.host, self.nginx.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=server_hostname, session=session) as tls:
                return (tls.version(), tls.cipher()[0], tls.selected_alpn_protocol(),
                        tls.session, tls.session_reused)

    def test_https_serves_the_apis(self):
        algorithms = self.nginx.get_json("/api/algorithms")["algorithms"]
        self.assertIn("window_level", [a["name"] for a in algorithms])
        studies = self.nginx.get_json("/pacs/studies")["studies"]
        self.assertTrue(studies)
        study, series, images = self.api.ct()
        self.assertTrue(images)
        # Host and X-Forwarded-Proto reach imgpipe: the URLs it hands out are https/wss on the
        # host the client asked for (nginx's $host carries no port: 443 in production).
        info = self.nginx.get_json("/api/info")
        self.assertEqual(info["api_base"], "https://127.0.0.1/api")
        self.assertEqual(info["ws_endpoint"], "wss://127.0.0.1/ws")

    def test_certificate_verifies_for_the_ip_and_the_name(self):
        self.assertEqual(self.handshake()[0][:5], "TLSv1")
        self.assertEqual(self.handshake(server_hostname="localhost")[0][:5], "TLSv1")
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.handshake(server_hostname="imgpipe.invalid")
        # Against the system's CAs (not ours) the chain does not verify: the checks above do.
        with socket.create_connection((self.nginx.host, self.nginx.port), timeout=10) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                with ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1"):
                    pass

    def test_plain_http_only_redirects(self):
        for method, path in (("GET", "/api/algorithms?x=1"), ("GET", "/ws?client_id=c"),
                             ("POST", "/api/provision")):
            status, headers, _ = self.nginx.http_request(method, path)
            self.assertEqual(status, 301, (method, path))
            self.assertEqual(headers["location"], f"https://127.0.0.1{path}")
            # Answered by nginx itself: nothing reached imgpipe (it would add X-Request-Id).
            self.assertNotIn("x-request-id", headers)

    def test_tls_12_and_13_with_aead_ciphers_only(self):
        v12 = self.handshake(minimum_version=ssl.TLSVersion.TLSv1_2,
                             maximum_version=ssl.TLSVersion.TLSv1_2)
        v13 = self.handshake(minimum_version=ssl.TLSVersion.TLSv1_3,
                             maximum_version=ssl.TLSVersion.TLSv1_3)
        self.assertEqual((v12[0], v13[0]), ("TLSv1.2", "TLSv1.3"))
        self.assertRegex(v12[1], r"^ECDHE-(RSA|ECDSA)-(AES\d+-GCM|CHACHA20-POLY1305)")
        self.assertRegex(v13[1], r"^TLS_(AES_\d+_GCM|CHACHA20_POLY1305)_")
        # A TLS 1.2 client offering only CBC suites (OpenSSL's defaults would accept them).
        ctx = self.nginx.context(maximum_version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers("ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA:"
                        "AES128-GCM-SHA256:AES128-SHA256:AES128-SHA")  # CBC, or no ECDHE
        with socket.create_connection((self.nginx.host, self.nginx.port), timeout=10) as raw:
            with self.assertRaisesRegex(ssl.SSLError, "(?i)handshake failure|no shared cipher"):
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                    pass

    def test_tls_11_and_lower_are_refused(self):
        with socket.create_connection((self.nginx.host, self.nginx.port), timeout=10) as sock:
            sock.sendall(tls11_client_hello())
            header = read_exactly(sock, 5)
            self.assertEqual(len(header), 5, "no answer at all")
            # An alert record (21), not a handshake record (22) carrying a ServerHello...
            self.assertEqual(header[0], 21, f"answered {header!r}: TLS 1.1 was accepted")
            alert = read_exactly(sock, 2)
            # ...and the alert is protocol_version (70), fatal (2).
            self.assertEqual(tuple(alert), (2, 70))

    def test_http2_session_resumption_and_hsts(self):
        self.assertEqual(self.handshake(alpn=["h2", "http/1.1"])[2], "h2")
        # A session is resumed only from the context that made it.
        tls12 = self.nginx.context(minimum_version=ssl.TLSVersion.TLSv1_2,
                                   maximum_version=ssl.TLSVersion.TLSv1_2)
        first = self.handshake(ctx=tls12)
        self.assertFalse(first[4])
        self.assertTrue(self.handshake(ctx=tls12, session=first[3])[4], "session not resumed")
        for path, expect in (("/api/algorithms", 200), ("/api/jobs/no-such-job", 404),
                             ("/nginx-healthz", 200)):
            status, headers, _ = self.nginx.request("GET", path)
            self.assertEqual(status // 100, expect // 100, path)
            self.assertEqual(headers.get("strict-transport-security"), "max-age=63072000", path)

    def test_job_result_over_wss(self):
        client = self.api.provision()
        study, series, images = self.api.ct()
        url = f"wss://127.0.0.1:{self.nginx.port}/ws?client_id={client}"

        async def scenario():
            async with websockets.connect(url, ssl=self.nginx.context()) as ws:
                self.assertEqual((await receive(ws))["type"], "hello")
                status, _, reply = self.api.process("window_level", {
                    "study_id": study, "series_id": series, "image_id": images[0],
                    "scope": "image", "client_id": client})
                self.assertEqual(status, 202, reply)
                event = await receive(ws, timeout=60)
                self.assertEqual((event["type"], event["job_id"], event["status"]),
                                 ("result", reply["job_id"], "succeeded"))

        async def untrusted():
            async with websockets.connect(url, ssl=ssl.create_default_context()):
                pass

        asyncio.run(scenario())
        # The WebSocket went through nginx (its line is written on close), over TLS, and the
        # log holds no client id (the query string is left out).
        line = self.log_line(lambda x: '"GET /ws HTTP/1.1" 101 ' in x)
        self.assertRegex(line, r" TLSv1\.[23]/\S+ up=127\.0\.0\.1:")
        self.assertNotIn(client, "".join(self.nginx.log_lines()))
        # Without the test CA the WebSocket's TLS does not verify.
        with self.assertRaises(ssl.SSLCertVerificationError):
            asyncio.run(untrusted())

    def until_limited(self, call, message):
        """Calls `call` (-> status, body) until it is answered 429; returns its message."""
        passed = 0
        for _ in range(20):
            status, data = call()
            if status == 429:
                self.assertGreaterEqual(passed, 2)
                self.assertEqual(json.loads(data)["error"]["message"], message)
                return
            self.assertLess(status, 500, data)
            passed += 1
        self.fail(f"never refused after {passed} calls")

    def test_imgpipe_sees_the_client_address(self):
        # Clients on 127.0.0.2 and 127.0.0.3 (Linux routes all of 127/8 to loopback), each with a
        # forged X-Forwarded-For: nginx appends the real address last, and imgpipe (whose peer
        # is nginx, a trusted proxy) limits that address, not nginx's nor the forged one.
        forged = {"X-Forwarded-For": "6.6.6.6"}
        self.until_limited(
            lambda: self.nginx.request("POST", "/api/provision", headers=forged,
                                       source="127.0.0.2")[::2],
            "too many clients provisioned from 127.0.0.2")
        # The WebSocket location passes it too (upgrade requests without a client_id: each takes
        # a token, then is refused 401 until the limit answers first).
        self.until_limited(
            lambda: self.nginx.request("GET", "/ws", headers={**forged,
                                                              **websocket_upgrade_headers()},
                                       source="127.0.0.3")[::2],
            "too many WebSocket connections from 127.0.0.3")
        # Other addresses keep their own budget.
        status, _, data = self.nginx.request("POST", "/api/provision", source="127.0.0.4")
        self.assertEqual(status, 201, data)

    def log_line(self, predicate):
        """The one access-log line satisfying predicate (nginx writes a request's line as the
        response completes, possibly just after the client read it; a WebSocket's on close)."""
        deadline = time.monotonic() + 10
        while True:
            lines = [x for x in self.nginx.log_lines() if predicate(x)]
            if lines or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(lines), 1, lines)
        return lines[0]

    def test_request_id_passes_both_ways(self):
        status, headers, _ = self.nginx.request("GET", "/api/algorithms",
                                                headers={"X-Request-Id": "tls-check-7"})
        self.assertEqual((status, headers["x-request-id"]), (200, "tls-check-7"))
        # Without one, or with one imgpipe would not keep, nginx makes it: the id imgpipe
        # answers with is the one nginx logged.
        for sent in ({}, {"X-Request-Id": "not acceptable!"}):
            path = f"/pacs/studies/rid-probe-{secrets.token_hex(4)}"
            status, headers, _ = self.nginx.request("GET", path, headers=sent)
            self.assertIn(status, (400, 404))  # an answer from imgpipe, not from nginx
            rid = headers["x-request-id"]
            self.assertRegex(rid, r"^[0-9a-f]{32}$")
            line = self.log_line(lambda x: f" {path} HTTP/" in x)
            self.assertRegex(line, r" TLSv1\.[23]/\S+ ")
            self.assertEqual(re.search(r"rid=(\S+)", line).group(1), rid)

    def test_access_log_holds_no_client_id(self):
        client = self.api.provision()
        status, _, _ = self.nginx.request("GET", f"/api/jobs?client_id={client}",
                                          headers={"X-Request-Id": "no-client-id-probe"})
        self.assertEqual(status, 200)
        line = self.log_line(lambda x: "rid=no-client-id-probe" in x)
        self.assertIn('"GET /api/jobs HTTP/1.1"', line)
        self.assertNotIn(client, "".join(self.nginx.log_lines()))

if __name__ == "__main__":
    unittest.main(verbosity=2)
