#!/usr/bin/python3
"""Path safety of a live `imgpipe serve` (docs/security.md): no request reaches a file outside the
place it names. Tries "..", percent-encoded dots and slashes, NUL, backslashes, absolute paths and
absolute-form targets, symlinks planted in the web root, overlong names, and DICOM files whose UIDs
try to climb out of the blob folder, against the static file server, the results route, the PACS
and DICOMweb ids and the algorithm names. Every answer must be a refusal (400/404/...) or the
web frontend's own index.html, and never the content of a file placed outside."""
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from test_jobs_api import Api  # noqa: E402

BIN = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
INDEX = b"<!doctype html><title>path safety app</title>"
SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT"

# Targets that try to climb out of a root, as sent on the wire (http.client sends them verbatim).
CLIMBS = [
    "/../secret.txt",
    "/../../../../../../etc/passwd",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/assets/%2e%2e/%2e%2e/secret.txt",
    "/assets%2f..%2f..%2fsecret.txt",
    "/assets%2F%2E%2E%2F%2E%2E%2Fsecret.txt",
    "/..%2fsecret.txt",
    "/..%5csecret.txt",
    "/..\\secret.txt",
    "/%2fetc%2fpasswd",
    "//etc/passwd",
    "/%252e%252e/secret.txt",  # double encoding: a literal "%2e%2e" segment, never ".."
    "/assets/./../../secret.txt",
    "/index.html%00.png",
    "/secret.txt%00",
    "/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 for "."
]


def raw_request(server, request_bytes):
    """Sends bytes as they are; returns the status line's code."""
    sock = socket.create_connection((server.host, server.port), timeout=10)
    try:
        sock.sendall(request_bytes)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0
    finally:
        sock.close()


class StaticFilesTest(unittest.TestCase):
    """The web root with traps: a secret beside it, symlinks out of it, a dot-file in it."""

    @classmethod
    def setUpClass(cls):
        cls.top = tempfile.mkdtemp(prefix="imgpipe-paths-")
        cls.web = os.path.join(cls.top, "web")
        outside = os.path.join(cls.top, "outside")
        os.makedirs(os.path.join(cls.web, "assets"))
        os.makedirs(outside)
        for path, data in ((os.path.join(cls.web, "index.html"), INDEX),
                           (os.path.join(cls.web, "assets", "app.js"), b"ok();"),
                           (os.path.join(cls.web, ".env"), SECRET),
                           (os.path.join(cls.top, "secret.txt"), SECRET),
                           (os.path.join(outside, "secret.txt"), SECRET)):
            with open(path, "wb") as f:
                f.write(data)
        # Symlinks planted in the web root: to a file and to a folder outside it.
        os.symlink(os.path.join(outside, "secret.txt"), os.path.join(cls.web, "assets", "evil.js"))
        os.symlink(outside, os.path.join(cls.web, "linked"))
        os.symlink("/etc/passwd", os.path.join(cls.web, "passwd.txt"))
        cls.server = ImgpipeServer("--web-root", cls.web, "--roles", "api")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.top, ignore_errors=True)

    def assert_refused_or_app(self, path):
        status, headers, body = self.server.request("GET", path)
        self.assertNotIn(SECRET, body, path)
        self.assertNotIn(b"root:", body, path)  # /etc/passwd
        if status == 200:  # a client-side route: the application, nothing else
            self.assertEqual(body, INDEX, path)
        else:
            self.assertIn(status, (400, 404), (path, status, body[:200]))
            self.assertEqual(json.loads(body)["error"]["code"],
                             "invalid_argument" if status == 400 else "not_found", path)
        return status

    def test_control_files_are_served(self):
        self.assertEqual(self.server.request("GET", "/assets/app.js")[2], b"ok();")
        self.assertEqual(self.server.request("GET", "/")[2], INDEX)

    def test_climbing_out_is_refused(self):
        for path in CLIMBS:
            with self.subTest(path=path):
                self.assert_refused_or_app(path)

    def test_files_named_by_a_climb_are_404_not_the_app(self):
        # A path with an extension never falls back to the app: it is a plain 404.
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets%2f..%2f..%2fsecret.txt"):
            self.assertIn(self.assert_refused_or_app(path), (400, 404), path)

    def test_symlinks_out_of_the_root_are_404(self):
        for path in ("/assets/evil.js", "/linked/secret.txt", "/passwd.txt", "/linked/"):
            with self.subTest(path=path):
                self.assert_refused_or_app(path)
        self.assertEqual(self.server.request("GET", "/assets/evil.js")[0], 404)
        self.assertEqual(self.server.request("GET", "/passwd.txt")[0], 404)

    def test_dot_files_are_404(self):
        for path in ("/.env", "/%2eenv", "/assets/.hidden.js"):
            self.assertEqual(self.assert_refused_or_app(path), 404, path)

    def test_absolute_form_and_asterisk_targets_are_400(self):
        for target in (b"http://127.0.0.1/etc/passwd", b"file:///etc/passwd", b"*",
                       b"../secret.txt"):
            status = raw_request(self.server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(status, 400, target)

    def test_overlong_names(self):
        # A segment longer than NAME_MAX, a path far longer than PATH_MAX: refused, and the
        # server stays up; a target over the header limit is 431 (or 400), never served.
        for path in ("/" + "a" * 300 + ".js", "/" + "/".join(["b" * 200] * 40) + ".js"):
            status, _, body = self.server.request("GET", path)
            self.assertEqual(status, 404, path[:80])
            self.assertNotIn(SECRET, body)
        status = raw_request(self.server,
                             b"GET /" + b"c" * (70 << 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(status, (400, 431, 0))
        self.assertEqual(self.server.request("GET", "/healthz")[0], 200)


class ApiPathsTest(unittest.TestCase):
    """Ids and names in API paths: results, jobs, algorithms, PACS, DICOMweb."""

    @classmethod
    def setUpClass(cls):
        cls.server = ImgpipeServer("--demo")
        cls.api = Api(cls.server)
        cls.client = cls.api.provision()
        study, series, images = cls.api.ct()
        cls.study, cls.series, cls.image = study, series, images[0]
        status, _, reply = cls.api.process("window_level", {
            "study_id": study, "series_id": series, "image_id": images[0],
            "client_id": cls.client})
        assert status == 202, reply
        cls.job = reply["job_id"]
        job = cls.api.wait_terminal(cls.job, cls.client)
        assert job["status"] == "succeeded", job

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def get(self, path):
        return self.server.request("GET", path, headers={"X-Client-Id": self.client})

    def test_result_names_stay_in_the_jobs_folder(self):
        ok, _, png = self.get(f"/api/results/{self.job}/image.png")
        self.assertEqual(ok, 200)
        self.assertTrue(png.startswith(b"\x89PNG"))
        names = [
            "..%2f..%2fpacs", "../../pacs", "%2e%2e/%2e%2e/imgpipe.db", "..%2F..%2F..%2Fimgpipe.db",
            "image.png%00.txt", "%2fetc%2fpasswd", "/etc/passwd", "..", "%2e", ".%2e",
            "a/../../x", "image.png/..", "..%5c..%5cimgpipe.db", "x" * 300, "a%0ab", "%c0%ae%c0%ae",
        ]
        for name in names:
            with self.subTest(name=name):
                status, _, body = self.get(f"/api/results/{self.job}/{name}")
                self.assertIn(status, (400, 404), (name, body[:200]))
                self.assertNotIn(b"SQLite format", body)
                self.assertNotIn(b"root:", body)
                self.assertFalse(body.startswith(b"\x89PNG"), name)

    def test_job_ids_and_algorithm_names_in_paths(self):
        for path in (f"/api/jobs/..%2f{self.job}", "/api/jobs/..%2f..%2fimgpipe.db",
                     f"/api/results/..%2f{self.job}/image.png",
                     f"/api/results/{self.job}%2f..%2f{self.job}/image.png"):
            status, _, body = self.get(path)
            self.assertIn(status, (400, 403, 404), (path, body[:200]))
        for algorithm in ("..%2f..%2fbin%2fsh", "%2fbin%2fsh", "../invert", "clahe%00"):
            status, _, body = self.server.request(
                "POST", f"/api/process/{algorithm}", json.dumps({
                    "study_id": self.study, "series_id": self.series, "image_id": self.image,
                    "client_id": self.client}).encode(), {"Content-Type": "application/json"})
            self.assertIn(status, (400, 404), (algorithm, body[:200]))

    def test_uids_in_paths_are_validated(self):
        s, se, i = self.study, self.series, self.image
        for path in (f"/pacs/studies/{s}%2f..%2f..", f"/pacs/studies/{s}/series/..%2f{se}",
                     f"/pacs/studies/{s}/series/{se}/images/..%2f..%2f{i}/file",
                     f"/pacs/studies/{s}/series/{se}/images/{i}%00/file",
                     f"/pacs/preview?study_id={s}&series_id={se}&image_id=..%2f{i}&scope=image",
                     f"/pacs/preview?study_id=/etc/passwd&scope=study",
                     f"/dicomweb/studies/{s}/series/{se}/instances/{i}%2f..",
                     "/dicomweb/studies/%2e%2e/series", "/dicomweb/studies?StudyInstanceUID=..%2f1",
                     f"/pacs/studies/{'9' * 65}", "/pacs/studies/1.2.-3", "/pacs/studies/1.2.3.",
                     "/pacs/studies/.1.2", "/pacs/studies/1..2", "/pacs/studies/1.2%20"):
            status, _, body = self.get(path)
            self.assertEqual(status, 400, (path, body[:200]))
        status, _, data = self.get(f"/pacs/studies/{s}/series/{se}/images/{i}/file")
        self.assertEqual(status, 200)  # the control: the same ids, well formed
        self.assertEqual(data[128:132], b"DICM")


def dicom_files():
    out = tempfile.mkdtemp(prefix="imgpipe-paths-demo-")
    run = subprocess.run([BIN, "demo", "--out", out], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    files = []
    for root, _, names in os.walk(out):
        files += [os.path.join(root, n) for n in names]
    return out, sorted(files, key=os.path.getsize)


class IngestTest(unittest.TestCase):
    """DICOM files whose UIDs (the blob key's parts) try to name a path of their own."""

    @classmethod
    def setUpClass(cls):
        cls.top = tempfile.mkdtemp(prefix="imgpipe-paths-ingest-")
        cls.data_dir = os.path.join(cls.top, "new", "data")  # does not exist yet
        cls.server = ImgpipeServer(data_dir=cls.data_dir)
        cls.demo_dir, files = dicom_files()
        with open(files[0], "rb") as f:
            cls.good = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.top, ignore_errors=True)
        shutil.rmtree(cls.demo_dir, ignore_errors=True)

    def files_under(self, root):
        found = set()
        for r, _, names in os.walk(root):
            found |= {os.path.join(r, n) for n in names}
        return found

    def test_a_new_data_dir_is_private(self):
        mode = stat.S_IMODE(os.stat(self.data_dir).st_mode)
        self.assertEqual(mode, 0o700, oct(mode))

    def test_uids_that_climb_are_refused_and_write_nothing(self):
        status, _, body = self.server.request(
            "POST", "/pacs/images", self.good,
            {"Content-Type": "application/dicom", **self.server.admin_headers})
        self.assertIn(status, (200, 201), body)
        reply = json.loads(body)
        study = reply["study_id"].encode()
        sop = reply["image_id"].encode()
        self.assertGreaterEqual(len(study), 10)
        before_top = self.files_under(self.top)
        total = self.server.get_json("/pacs/studies")["total"]

        def same_length(text):  # a replacement UID value of the original's length
            out = (text * 64)[:len(study)]
            return out
        bad_uids = [same_length(b"../"), same_length(b"/tmp/x"), b"1.2/../../" + b"9" *
                    (len(study) - 10), same_length(b"1.2.%2e"), same_length(b"1.2.\\.."),
                    same_length(b"1.2.a"), b"." + study[1:], same_length(b"1.2\x00../")]
        # (Spaces are no test: DCMTK drops them from a UID value, so "1 .1 .1" is stored as the
        # valid "1.1.1"; NUL is dropped too, which leaves "1.2../" here, still refused.)
        for bad in bad_uids:
            self.assertEqual(len(bad), len(study))
            for which, old in (("study", study), ("sop", sop)):
                if len(bad) != len(old):
                    continue
                with self.subTest(uid=bad, which=which):
                    data = self.good.replace(old, bad)
                    self.assertNotEqual(data, self.good)
                    for path, ctype in (("/pacs/images", "application/dicom"),
                                        ("/dicomweb/studies", None)):
                        if ctype is None:  # STOW-RS: one part of multipart/related
                            b = b"Xb0und"
                            body = (b"--" + b + b"\r\nContent-Type: application/dicom\r\n\r\n" +
                                    data + b"\r\n--" + b + b"--\r\n")
                            ctype = ('multipart/related; type="application/dicom"; '
                                     'boundary=Xb0und')
                        else:
                            body = data
                        status, _, answer = self.server.request(
                            "POST", path, body,
                            {"Content-Type": ctype, **self.server.admin_headers})
                        # Refused for the UID, not for a missing credential.
                        self.assertNotIn(status, (200, 201, 202, 401, 403),
                                         (path, bad, answer[:300]))
        self.assertEqual(self.files_under(self.top), before_top, "a file appeared")
        self.assertEqual(self.server.get_json("/pacs/studies")["total"], total)
        for f in self.files_under(self.data_dir):
            self.assertTrue(os.path.realpath(f).startswith(os.path.realpath(self.data_dir)))


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
