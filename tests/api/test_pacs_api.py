#!/usr/bin/python3
"""HTTP integration tests of the PACS API and DICOMweb against a live `imgpipe serve`."""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402

BIN = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
DEMO_DIR = tempfile.mkdtemp(prefix="imgpipe-demo-files-")


def setUpModule():
    out = subprocess.run([BIN, "demo", "--out", DEMO_DIR], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def tearDownModule():
    shutil.rmtree(DEMO_DIR, ignore_errors=True)


def demo_files():
    files = []
    for root, _, names in os.walk(DEMO_DIR):
        files += [os.path.join(root, n) for n in sorted(names)]
    return sorted(files)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    return struct.unpack(">II", data[16:24])


def multipart(parts, boundary="XyZb0undary"):
    body = b""
    for p in parts:
        body += b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
    body += b"--" + boundary.encode() + b"--\r\n"
    ctype = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return body, ctype


def split_multipart(body, ctype):
    boundary = re.search(r"boundary=\"?([^\";]+)", ctype).group(1).encode()
    chunks = body.split(b"--" + boundary)
    parts = []
    for c in chunks[1:]:
        if c.startswith(b"--"):
            break
        head, _, payload = c.partition(b"\r\n\r\n")
        parts.append((head.decode(), payload[:-2]))
    return parts


def patch_uid(data, old, new):
    """Replaces a UID value in a file, keeping lengths (new is padded to the old length)."""
    assert len(new) <= len(old)
    padded = new + b"\x00" * (len(old) - len(new)) if len(new) % 2 == len(old) % 2 else None
    assert padded is not None
    return data.replace(old, padded)


class PacsApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ImgpipeServer()
        cls.files = demo_files()
        cls.ingested = {}
        for path in cls.files:
            status, _, body = cls.server.request(
                "POST", "/pacs/images", read(path),
                {"Content-Type": "application/dicom", **cls.server.admin_headers})
            assert status == 201, (path, status, body)
            cls.ingested[path] = json.loads(body)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def first_image(self, modality="CT"):
        studies = self.server.get_json("/pacs/studies?ModalitiesInStudy=" + modality)["studies"]
        study = self.server.get_json(f"/pacs/studies/{studies[0]['study_id']}")
        series = study["series"][0]
        detail = self.server.get_json(
            f"/pacs/studies/{study['study_id']}/series/{series['series_id']}")
        return study["study_id"], series["series_id"], detail["images"][0]["image_id"], detail

    # --- ingest -------------------------------------------------------------------------

    def test_reingest_is_idempotent(self):
        path = self.files[0]
        status, _, body = self.server.request("POST", "/pacs/images", read(path),
                                              {"Content-Type": "application/dicom", **self.server.admin_headers})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["status"], "already_stored")
        total = sum(s["image_count"] for s in self.server.get_json("/pacs/studies")["studies"])
        self.assertEqual(total, len(self.files))

    def test_multipart_ingest_reports_each_part(self):
        body, ctype = multipart([read(self.files[0]), b"not dicom at all"])
        status, _, resp = self.server.request("POST", "/pacs/images", body,
                                              {"Content-Type": ctype, **self.server.admin_headers})
        self.assertEqual(status, 200, resp)
        result = json.loads(resp)
        self.assertEqual(result["stored"], 1)
        self.assertEqual(result["rejected"], 1)
        self.assertEqual(result["results"][0]["status"], "already_stored")
        self.assertEqual(result["results"][1]["error"]["code"], "unsupported_media_type")

    def test_stored_file_is_returned_byte_for_byte(self):
        path = self.files[3]
        info = self.ingested[path]
        status, headers, body = self.server.request("GET", info["url"] + "/file")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/dicom")
        self.assertEqual(body, read(path))

    # --- search --------------------------------------------------------------------------

    def test_study_list_and_filters(self):
        listing = self.server.get_json("/pacs/studies")
        self.assertEqual(listing["total"], 3)
        self.assertEqual({"studies", "total", "limit", "offset"}, set(listing))
        for key in ("study_id", "patient_id", "patient_name", "study_date", "description",
                    "modalities", "series_count", "image_count"):
            self.assertIn(key, listing["studies"][0])
        ct = self.server.get_json("/pacs/studies?ModalitiesInStudy=CT")
        self.assertEqual(ct["total"], 1)
        self.assertIn("CT", ct["studies"][0]["modalities"])
        name = ct["studies"][0]["patient_name"]
        by_name = self.server.get_json("/pacs/studies?PatientName=" + name[:3].lower() + "*")
        self.assertGreaterEqual(by_name["total"], 1)
        date = ct["studies"][0]["study_date"]
        by_date = self.server.get_json(f"/pacs/studies?StudyDate={date}-{date}")
        self.assertIn(ct["studies"][0]["study_id"], [s["study_id"] for s in by_date["studies"]])
        page = self.server.get_json("/pacs/studies?limit=1&offset=2")
        self.assertEqual(len(page["studies"]), 1)
        self.assertEqual(page["total"], 3)

    def test_series_and_image_metadata(self):
        study_id, series_id, image_id, detail = self.first_image("CT")
        self.assertGreaterEqual(len(detail["images"]), 20)
        self.assertEqual(detail["images"][0]["rows"], 512)
        image = self.server.get_json(
            f"/pacs/studies/{study_id}/series/{series_id}/images/{image_id}")
        self.assertEqual(image["image_id"], image_id)
        self.assertEqual(image["columns"], 512)
        self.assertTrue(image["preview_url"].endswith("/preview"))

    # --- preview -------------------------------------------------------------------------

    def test_preview_png_with_size_and_caching_headers(self):
        study_id, series_id, image_id, _ = self.first_image("CT")
        url = f"/pacs/studies/{study_id}/series/{series_id}/images/{image_id}/preview?size=128"
        status, headers, body = self.server.request("GET", url)
        self.assertEqual(status, 200, body[:200])
        self.assertEqual(headers["content-type"], "image/png")
        self.assertEqual(png_size(body), (128, 128))
        self.assertIn("immutable", headers["cache-control"])
        etag = headers["etag"]
        status, headers2, body2 = self.server.request("GET", url, headers={"If-None-Match": etag})
        self.assertEqual(status, 304)
        self.assertEqual(body2, b"")
        status, _, jpeg = self.server.request("GET", url + "&format=jpeg&wc=40&ww=400")
        self.assertEqual(status, 200)
        self.assertEqual(jpeg[:3], b"\xff\xd8\xff")

    def test_seed_preview_form_matches(self):
        study_id, series_id, image_id, _ = self.first_image("MR")
        a = self.server.request(
            "GET", f"/pacs/studies/{study_id}/series/{series_id}/images/{image_id}/preview")
        b = self.server.request(
            "GET", f"/pacs/preview?study_id={study_id}&series_id={series_id}"
                   f"&image_id={image_id}&scope=image")
        self.assertEqual(a[0], 200)
        self.assertEqual(b[0], 200)
        self.assertEqual(a[2], b[2])
        series_scope = self.server.request(
            "GET", f"/pacs/preview?study_id={study_id}&series_id={series_id}&scope=series")
        self.assertEqual(series_scope[0], 200)

    def test_preview_bad_parameters(self):
        study_id, series_id, image_id, _ = self.first_image("CT")
        base = f"/pacs/studies/{study_id}/series/{series_id}/images/{image_id}/preview"
        for query in ("?frame=0", "?frame=99", "?size=abc", "?format=gif", "?wc=40",
                      "?wc=x&ww=1", "?ww=0&wc=1"):
            status, headers, body = self.server.request("GET", base + query)
            self.assertEqual(status, 400, (query, body))
            self.assertEqual(headers["content-type"], "application/json")
            self.assertIn("message", json.loads(body)["error"])
        status, _, _ = self.server.request(
            "GET", "/pacs/preview?study_id=1.2&series_id=1.2&image_id=1.2&scope=galaxy")
        self.assertEqual(status, 400)

    # --- DICOMweb ------------------------------------------------------------------------

    def test_qido_studies_series_instances(self):
        status, headers, body = self.server.request("GET", "/dicomweb/studies?limit=2",
                                                    headers={"Accept": "application/dicom+json"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/dicom+json")
        studies = json.loads(body)
        self.assertEqual(len(studies), 2)
        self.assertEqual(studies[0]["0020000D"]["vr"], "UI")
        ct = json.loads(self.server.request("GET", "/dicomweb/studies?ModalitiesInStudy=CT")[2])
        self.assertEqual(len(ct), 1)
        name = ct[0]["00100010"]["Value"][0]["Alphabetic"]
        by_tag = json.loads(self.server.request(
            "GET", "/dicomweb/studies?00100010=" + name[:2] + "*&includefield=all")[2])
        self.assertIn(ct[0]["0020000D"]["Value"][0],
                      [s["0020000D"]["Value"][0] for s in by_tag])
        study_uid = ct[0]["0020000D"]["Value"][0]
        series = json.loads(self.server.request("GET", f"/dicomweb/studies/{study_uid}/series")[2])
        self.assertEqual(series[0]["00080060"]["Value"], ["CT"])
        series_uid = series[0]["0020000E"]["Value"][0]
        instances = json.loads(self.server.request(
            "GET", f"/dicomweb/studies/{study_uid}/series/{series_uid}/instances")[2])
        self.assertGreaterEqual(len(instances), 20)
        self.assertEqual(instances[0]["00280010"]["Value"], [512])
        status, _, _ = self.server.request("GET", "/dicomweb/studies?StudyDate=2020")
        self.assertEqual(status, 400)

    def test_wado_retrieve_metadata_rendered_frames(self):
        study_id, series_id, image_id, _ = self.first_image("CT")
        inst = f"/dicomweb/studies/{study_id}/series/{series_id}/instances/{image_id}"
        status, headers, body = self.server.request(
            "GET", inst, headers={"Accept": 'multipart/related; type="application/dicom"'})
        self.assertEqual(status, 200)
        parts = split_multipart(body, headers["content-type"])
        self.assertEqual(len(parts), 1)
        self.assertEqual(parts[0][1][128:132], b"DICM")
        status, headers, body = self.server.request("GET", f"/dicomweb/studies/{study_id}/series/{series_id}")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(len(split_multipart(body, headers["content-type"])), 20)
        status, headers, body = self.server.request("GET", inst + "/metadata")
        self.assertEqual(status, 200, body[:300])
        meta = json.loads(body)
        self.assertEqual(meta[0]["00080018"]["Value"], [image_id])
        self.assertNotIn("7FE00010", {k.upper() for k in meta[0] if "InlineBinary" in meta[0][k]})
        status, headers, body = self.server.request("GET", inst + "/rendered")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "image/jpeg")
        status, headers, body = self.server.request("GET", inst + "/frames/1")
        self.assertEqual(status, 200)
        frames = split_multipart(body, headers["content-type"])
        self.assertEqual(len(frames[0][1]), 512 * 512 * 2)
        status, headers, body = self.server.request("GET", inst + "/frames/" + ",".join(["1"] * 3))
        self.assertEqual(status, 200)
        self.assertEqual(len(split_multipart(body, headers["content-type"])), 3)
        # A frame repeated past the 256 MB a response may hold (513 x 512 KB): refused, before
        # gigabytes are decoded (the list could name it 10,000 times).
        status, _, body = self.server.request("GET", inst + "/frames/" + ",".join(["1"] * 513))
        self.assertEqual(status, 400, body[:200])
        self.assertIn("ask for fewer", json.loads(body)["error"]["message"])

    def test_stow_rs(self):
        data = read(self.files[0])
        body, ctype = multipart([data])
        status, headers, resp = self.server.request("POST", "/dicomweb/studies", body,
                                                    {"Content-Type": ctype, **self.server.admin_headers})
        self.assertEqual(status, 200, resp)
        result = json.loads(resp)
        self.assertEqual(len(result["00081199"]["Value"]), 1)
        body, ctype = multipart([data, b"garbage" * 100])
        status, _, resp = self.server.request("POST", "/dicomweb/studies", body,
                                              {"Content-Type": ctype, **self.server.admin_headers})
        self.assertEqual(status, 202, resp)
        self.assertEqual(len(json.loads(resp)["00081198"]["Value"]), 1)
        status, _, _ = self.server.request("POST", "/dicomweb/studies", data,
                                           {"Content-Type": "application/dicom", **self.server.admin_headers})
        self.assertEqual(status, 415)

    # --- protocol --------------------------------------------------------------------------

    def test_errors_are_json_with_request_ids(self):
        # Under an API prefix: elsewhere a GET without a file extension is a web frontend route
        # and gets its index.html (test_web_static.py).
        for path in ("/pacs/no/such/path", "/api/no/such/path", "/no/such/file.js"):
            status, headers, body = self.server.request("GET", path)
            self.assertEqual(status, 404, path)
            self.assertEqual(json.loads(body)["error"]["code"], "not_found")
            self.assertTrue(headers["x-request-id"])
        status, headers, body = self.server.request("DELETE", "/pacs/studies")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers["allow"])
        status, headers, _ = self.server.request("GET", "/healthz",
                                                 headers={"X-Request-Id": "trace-me-42"})
        self.assertEqual(headers["x-request-id"], "trace-me-42")

    def test_ids_are_validated_before_use(self):
        for path in ("/pacs/studies/..%2F..%2Fetc", "/pacs/studies/1.2.x",
                     "/pacs/studies/1.2/series/abc", "/pacs/studies/" + "1" * 65,
                     "/pacs/studies/1.2'%20OR%201=1", "/dicomweb/studies/1..2/series"):
            status, _, body = self.server.request("GET", path)
            self.assertEqual(status, 400, (path, body))
        status, _, _ = self.server.request("GET", "/pacs/studies/1.2.3")
        self.assertEqual(status, 404)


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ImgpipeServer("--body-limit-mb", "1")
        # The smallest demo file keeps every request far below the 1 MB body limit.
        cls.good = read(min(demo_files(), key=os.path.getsize))

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def post(self, body, ctype="application/dicom"):
        start = time.monotonic()
        status, headers, resp = self.server.request("POST", "/pacs/images", body,
                                                    {"Content-Type": ctype, **self.server.admin_headers})
        return status, json.loads(resp) if resp else None, time.monotonic() - start

    def stored_blobs(self):
        found = []
        for root, _, names in os.walk(os.path.join(self.server.data_dir, "blobs")):
            found += names
        return found

    def test_rejections(self):
        cases = {
            "empty": (b"", (400, 415)),
            "not dicom": (b"hello world" * 50, (415,)),
            "truncated header": (self.good[:300], (400, 415)),
            "truncated pixels": (self.good[: len(self.good) // 2], (400,)),
            "preamble only": (b"\0" * 128 + b"DICM", (400,)),
        }
        cases["lying length"] = (self.lying_length(), (400,))
        for name, (body, expected) in cases.items():
            status, err, _ = self.post(body)
            self.assertIn(status, expected, (name, err))
            self.assertIn("code", err["error"], name)
            self.assertTrue(err["error"]["message"], name)
        self.assertEqual(self.stored_blobs(), [])
        self.assertEqual(self.server.get_json("/pacs/studies")["total"], 0)

    def lying_length(self):
        data = bytearray(self.good)
        # Find PatientName (0010,0010) in explicit VR LE and make its length enormous.
        i = data.find(b"\x10\x00\x10\x00PN")
        self.assertGreater(i, 0)
        data[i + 6:i + 8] = b"\xff\xff"  # 16-bit length 65535, far past a short element
        j = data.find(b"\xe0\x7f\x10\x00")  # pixel data: claim 4 GB
        self.assertGreater(j, 0)
        return bytes(data[:j + 8]) + b"\xf0\xff\xff\xff" + bytes(data[j + 12:j + 4000])

    def test_wrong_media_type(self):
        status, err, _ = self.post(self.good, "application/x-www-form-urlencoded")
        self.assertEqual(status, 415)
        status, err, _ = self.post(b"--x\r\nbroken", 'multipart/related; boundary=x')
        self.assertEqual(status, 400)

    def test_body_over_limit_is_413(self):
        status, err, _ = self.post(b"\0" * (2 << 20))
        self.assertEqual(status, 413)
        # The server is still healthy afterwards.
        self.assertEqual(self.server.request("GET", "/healthz")[0], 200)

    def test_header_lies_about_length(self):
        # Content-Length far beyond the limit is refused before the body arrives.
        sock = socket.create_connection((self.server.host, self.server.port), timeout=10)
        sock.sendall(b"POST /pacs/images HTTP/1.1\r\nHost: x\r\nContent-Type: application/dicom"
                     b"\r\nContent-Length: 99999999999\r\n\r\n")
        reply = sock.recv(4096)
        sock.close()
        self.assertIn(b" 413 ", reply.split(b"\r\n")[0])


class ProcessTest(unittest.TestCase):
    def test_demo_flag_loads_data_and_sigterm_exits_cleanly(self):
        server = ImgpipeServer("--demo")
        try:
            listing = server.get_json("/pacs/studies")
            self.assertEqual(listing["total"], 3)
            self.assertEqual(server.stop(signal.SIGTERM), 0)
            self.assertTrue(any("stopped" in l for l in server.stderr_lines))
            self.assertTrue(any(re.search(r"\[[0-9a-f]{16}\]", l) for l in server.stderr_lines),
                            "log lines carry request ids")
        finally:
            server.cleanup()

    def test_port_taken_fails_with_reason(self):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        data_dir = tempfile.mkdtemp()
        try:
            out = subprocess.run([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                                  data_dir], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn(str(port), out.stderr)
        finally:
            holder.close()
            shutil.rmtree(data_dir, ignore_errors=True)

    def test_import_command_summary(self):
        data_dir = tempfile.mkdtemp()
        src = tempfile.mkdtemp()
        try:
            shutil.copytree(DEMO_DIR, os.path.join(src, "nested"))
            with open(os.path.join(src, "README.txt"), "w") as f:
                f.write("not an image")
            out = subprocess.run([BIN, "import", src, "--data-dir", data_dir],
                                 capture_output=True, text=True, timeout=300)
            self.assertEqual(out.returncode, 0, out.stderr)
            n = len(demo_files())
            self.assertIn(f"stored {n}, already stored 0, rejected 1", out.stdout)
            again = subprocess.run([BIN, "import", src, "--data-dir", data_dir],
                                   capture_output=True, text=True, timeout=300)
            self.assertIn(f"stored 0, already stored {n}, rejected 1", again.stdout)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
            shutil.rmtree(src, ignore_errors=True)

    def test_env_and_version(self):
        out = subprocess.run([BIN, "env", "--listen", "127.0.0.1:9999"], capture_output=True,
                             text=True, timeout=30)
        self.assertIn("export PACS_API_BASE=http://127.0.0.1:9999/pacs", out.stdout)
        self.assertIn("export API_BASE=http://127.0.0.1:9999/api", out.stdout)
        self.assertIn("export WS_ENDPOINT=ws://127.0.0.1:9999/ws", out.stdout)
        out = subprocess.run([BIN, "env", "--listen", "127.0.0.1:9999", "--powershell"],
                             capture_output=True, text=True, timeout=30)
        self.assertIn('$Env:WS_ENDPOINT = "ws://127.0.0.1:9999/ws"', out.stdout)
        out = subprocess.run([BIN, "version"], capture_output=True, text=True, timeout=30)
        self.assertTrue(out.stdout.startswith("imgpipe "))
        out = subprocess.run([BIN, "serve", "--no-such-flag", "1"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 2)


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
