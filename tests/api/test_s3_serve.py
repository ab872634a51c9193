#!/usr/bin/python3
"""`imgpipe serve` with its blobs on S3-compatible storage (a local s3rver from tests/s3):
ingest, preview and a processing job write and read objects in the bucket, and a restarted
server serves what the first one stored."""
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from s3_server import CREDENTIALS, S3Server  # noqa: E402
from test_jobs_api import Api  # noqa: E402

BUCKET = "imgpipe-it"


class S3ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3server = S3Server(BUCKET)
        cls.s3port = cls.s3server.port
        cls.s3 = cls.s3server.proc
        cls.data = tempfile.mkdtemp(prefix="imgpipe-s3-data-")
        cls.args = ("--demo", "--blob-url", f"s3://{BUCKET}/site-a",
                    "--blob-s3-endpoint", cls.s3server.endpoint)

    @classmethod
    def tearDownClass(cls):
        cls.s3server.stop()
        shutil.rmtree(cls.data, ignore_errors=True)

    def objects(self, prefix):
        return self.s3server.objects(BUCKET, prefix)

    def test_pipeline_on_s3(self):
        server = ImgpipeServer(*self.args, env=CREDENTIALS, data_dir=self.data)
        try:
            studies = server.get_json("/pacs/studies?modality=CT")["studies"]
            study = server.get_json(f"/pacs/studies/{studies[0]['study_id']}")
            series_id = study["series"][0]["series_id"]
            series = server.get_json(f"/pacs/studies/{study['study_id']}/series/{series_id}")
            image = series["images"][0]["image_id"]
            # The demo's DICOM files are objects in the bucket, under the prefix.
            stored = [k for k in self.objects("site-a/pacs") if k.endswith(".dcm")]
            self.assertEqual(len(stored), sum(s["image_count"] for s in
                                              server.get_json("/pacs/studies")["studies"]))
            status, headers, png = server.request(
                "GET", f"/pacs/preview?study_id={study['study_id']}&series_id={series_id}"
                       f"&image_id={image}&scope=image")
            self.assertEqual(status, 200)
            self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")

            api = Api(server)
            client = api.provision()
            status, _, reply = api.process("window_level", {
                "study_id": study["study_id"], "series_id": series_id, "image_id": image,
                "client_id": client})
            self.assertEqual(status, 202, reply)
            job_id = reply["job_id"]
            job = api.wait_terminal(job_id, client)
            self.assertEqual(job["status"], "succeeded", job)
            self.assertIn(f"site-a/results/{job_id}/image.png", self.objects("site-a/results"))
            status, _, dcm = server.request("GET", job["outputs"]["dicom"] + f"?client_id={client}")
            self.assertEqual(status, 200)
            self.assertEqual(dcm[128:132], b"DICM")
        finally:
            server.cleanup()

        # A second process on the same metadata reads what the first stored in the bucket.
        again = ImgpipeServer(*self.args, env=CREDENTIALS, data_dir=self.data)
        try:
            status, _, png2 = again.request(
                "GET", f"/pacs/preview?study_id={study['study_id']}&series_id={series_id}"
                       f"&image_id={image}&scope=image&size=64")
            self.assertEqual(status, 200)
            status, _, file = again.request(
                "GET", f"/pacs/studies/{study['study_id']}/series/{series_id}/images/{image}/file")
            self.assertEqual(status, 200)
            self.assertEqual(file[128:132], b"DICM")
        finally:
            again.cleanup()

    def test_a_missing_bucket_stops_the_start_with_a_clear_error(self):
        with self.assertRaises(RuntimeError) as ctx:
            ImgpipeServer("--blob-url", "s3://no-such-bucket/x", "--blob-s3-endpoint",
                          f"http://127.0.0.1:{self.s3port}", env=CREDENTIALS)
        self.assertIn("no-such-bucket", str(ctx.exception))

    def test_missing_credentials_are_reported(self):
        env = {k: "" for k in CREDENTIALS}
        with self.assertRaises(RuntimeError) as ctx:
            ImgpipeServer("--blob-url", f"s3://{BUCKET}/x", "--blob-s3-endpoint",
                          f"http://127.0.0.1:{self.s3port}", env=env)
        self.assertIn("credential", str(ctx.exception).lower())

    def test_zz_readyz_follows_the_bucket(self):
        # Runs last (names sort): it stops the class's s3rver.
        server = ImgpipeServer("--blob-url", f"s3://{BUCKET}/ready", "--blob-s3-endpoint",
                               f"http://127.0.0.1:{self.s3port}", env=CREDENTIALS)
        try:
            ready = server.get_json("/readyz")
            self.assertEqual(ready, {"status": "ready", "roles": ["api", "worker", "push"],
                                     "checks": {"database": "ok", "blobs": "ok", "queues": "ok"}})
            self.s3server.kill()
            status, headers, body = server.request("GET", "/readyz")
            self.assertEqual(status, 503)
            self.assertEqual(headers.get("retry-after"), "1")
            report = json.loads(body)
            self.assertEqual(report["status"], "not_ready")
            self.assertEqual(report["checks"]["database"], "ok")
            self.assertIn("unavailable", report["checks"]["blobs"].lower())
            self.assertEqual(server.get_json("/healthz"), {"status": "ok"})  # alive all the same
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
