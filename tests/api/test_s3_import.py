#!/usr/bin/python3
"""The seed's "existing PACS bucket": `imgpipe import s3://bucket/prefix` indexes the DICOM objects
of a bucket in place (no copy in imgpipe's own storage), and the PACS API, DICOMweb and the
workers read them from that bucket. The bucket is filled by an independent S3 client (Debian's
botocore), with object names no blob key may have (spaces, non-ASCII)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import botocore.session

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from s3_server import CREDENTIALS, S3Server  # noqa: E402
from test_jobs_api import Api  # noqa: E402

OWN = "imgpipe-own"        # imgpipe's blob store
ARCHIVE = "hospital-pacs"  # the existing PACS bucket, never written by imgpipe
BIN = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")


class S3ImportInPlaceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = S3Server(OWN)
        cls.tmp = tempfile.mkdtemp(prefix="imgpipe-s3-import-")
        cls.data = os.path.join(cls.tmp, "data")
        demo = os.path.join(cls.tmp, "demo")
        subprocess.run([BIN, "demo", "--out", demo], check=True, stdout=subprocess.DEVNULL)
        cls.files = {}
        for root, _, names in os.walk(demo):
            for name in sorted(names):
                with open(os.path.join(root, name), "rb") as f:
                    cls.files[name] = f.read()
        client = botocore.session.get_session().create_client(
            "s3", endpoint_url=cls.s3.endpoint, region_name="us-east-1",
            aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER")
        client.create_bucket(Bucket=ARCHIVE)
        cls.names = {}  # object name -> demo file name
        for i, name in enumerate(sorted(cls.files)):
            key = f"radiology/2026/Übersicht {i:03d} ({name})"
            client.put_object(Bucket=ARCHIVE, Key=key, Body=cls.files[name])
            cls.names[key] = name
        client.put_object(Bucket=ARCHIVE, Key="radiology/README.txt", Body=b"not DICOM")
        # A large non-DICOM object: probed (its first bytes), rejected without reading it all.
        client.put_object(Bucket=ARCHIVE, Key="radiology/scans.zip", Body=b"PK" * (1 << 20))
        client.put_object(Bucket=ARCHIVE, Key="radiology-old/outside.dcm",
                          Body=next(iter(cls.files.values())))
        cls.client = client
        cls.args = ("--blob-url", f"s3://{OWN}/site", "--blob-s3-endpoint", cls.s3.endpoint)

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_import(self, *urls):
        env = dict(os.environ, **CREDENTIALS)
        return subprocess.run([BIN, "import", *urls, "--data-dir", self.data, *self.args],
                              env=env, capture_output=True, text=True, timeout=300)

    def test_import_in_place_then_serve_from_the_bucket(self):
        n = len(self.files)
        first = self.run_import(f"s3://{ARCHIVE}/radiology")
        self.assertEqual(first.returncode, 0, first.stderr + first.stdout)
        # Every DICOM object under the prefix (a folder: not "radiology-old/"), the text file
        # rejected with its name.
        self.assertIn(f"{n + 2} objects, indexed in place", first.stderr)
        self.assertIn(f"stored {n}, already stored 0, rejected 2", first.stdout)
        self.assertIn(f"s3://{ARCHIVE}/radiology/README.txt", first.stdout)
        self.assertIn(f"s3://{ARCHIVE}/radiology/scans.zip: not a DICOM Part 10 file", first.stdout)
        # Nothing was copied into imgpipe's own bucket, nor written to the archive.
        self.assertEqual(self.s3.objects(OWN, "site/pacs"), [])
        self.assertEqual(len(self.s3.objects(ARCHIVE)), n + 3)

        again = self.run_import(f"s3://{ARCHIVE}/radiology")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn(f"stored 0, already stored {n}, rejected 2", again.stdout)

        server = ImgpipeServer(*self.args, env=CREDENTIALS, data_dir=self.data)
        try:
            studies = server.get_json("/pacs/studies")["studies"]
            self.assertEqual(sum(s["image_count"] for s in studies), n)
            study = next(s for s in studies if "CT" in s["modalities"])["study_id"]
            series = server.get_json(f"/pacs/studies/{study}")["series"][0]["series_id"]
            images = server.get_json(f"/pacs/studies/{study}/series/{series}")["images"]
            image = images[0]["image_id"]
            # Byte for byte the archive's object, through the PACS API and DICOMweb.
            status, _, body = server.request(
                "GET", f"/pacs/studies/{study}/series/{series}/images/{image}/file")
            self.assertEqual(status, 200)
            self.assertIn(body, self.files.values())
            status, _, wado = server.request(
                "GET", f"/dicomweb/studies/{study}/series/{series}/instances/{image}",
                headers={"Accept": "multipart/related; type=\"application/dicom\""})
            self.assertEqual(status, 200)
            self.assertIn(body, wado)
            status, _, png = server.request(
                "GET", f"/pacs/preview?study_id={study}&series_id={series}&image_id={image}"
                       "&scope=image&size=64")
            self.assertEqual(status, 200)
            self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")

            # A worker reads its input from the archive; the output goes to imgpipe's bucket.
            api = Api(server)
            client = api.provision()
            status, _, reply = api.process("window_level", {
                "study_id": study, "series_id": series, "image_id": image, "scope": "image",
                "client_id": client})
            self.assertEqual(status, 202, reply)
            job_id = reply["job_id"]
            job = api.wait_terminal(job_id, client)
            self.assertEqual(job["status"], "succeeded", job)
            self.assertIn(f"site/results/{job_id}/image.png", self.s3.objects(OWN, "site/results"))
            self.assertEqual(len(self.s3.objects(ARCHIVE)), n + 3)

            # An object replaced in the archive after the import is not served as the image.
            key = next(k for k, v in self.names.items() if v in self.files and
                       self.files[v] == body)
            self.client.put_object(Bucket=ARCHIVE, Key=key, Body=body + b"changed")
            status, _, error = server.request(
                "GET", f"/pacs/studies/{study}/series/{series}/images/{image}/file")
            self.assertEqual(status, 500)
            self.assertIn("changed in its bucket", json.loads(error)["error"]["message"])
            self.client.put_object(Bucket=ARCHIVE, Key=key, Body=body)
            status, _, restored = server.request(
                "GET", f"/pacs/studies/{study}/series/{series}/images/{image}/file")
            self.assertEqual((status, restored), (200, body))
        finally:
            server.cleanup()

    def test_a_missing_bucket_is_a_clear_error(self):
        result = self.run_import("s3://no-such-archive/x")
        self.assertEqual(result.returncode, 1)
        self.assertIn("no-such-archive", result.stderr)
        self.assertIn("does not exist", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
