#!/usr/bin/python3
"""`imgpipe backup` of a live embedded deployment (docs/operations.md "Backup and restore"): taken
while jobs keep being submitted and run, the copy serves on its own: every image readable, every
job it holds finishes (a job and its queue message were copied together), the outputs of the jobs
done before the backup byte for byte. Refusals: an existing folder, a PostgreSQL deployment."""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402

from test_jobs_api import Api, wait_for  # noqa: E402

BIN = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")


class BackupApi(Api):
    def submit(self, client, study, series, image, algorithm):
        status, _, reply = self.process(algorithm, {
            "study_id": study, "series_id": series, "image_id": image, "scope": "image",
            "client_id": client})
        assert status == 202, (status, reply)
        return reply["job_id"]

    def jobs(self, client):
        return self.s.get_json(f"/api/jobs?client_id={client}&limit=1000")["jobs"]

    def outputs(self, job, client):
        """The job's PNG and DICOM outputs."""
        return {name: self.result(job["outputs"][name], client)[1] for name in ("image", "dicom")}

    def every_file(self):
        """(path, bytes) of every stored image, through the PACS API."""
        for study in self.s.get_json("/pacs/studies?limit=100")["studies"]:
            detail = self.s.get_json(f"/pacs/studies/{study['study_id']}")
            for series in detail["series"]:
                base = f"/pacs/studies/{study['study_id']}/series/{series['series_id']}"
                for image in self.s.get_json(base)["images"]:
                    path = f"{base}/images/{image['image_id']}/file"
                    status, _, data = self.s.request("GET", path)
                    assert status == 200, (path, status)
                    yield path, data


def backup(data_dir, dest, *extra):
    return subprocess.run([BIN, "backup", dest, "--data-dir", data_dir, *extra],
                          capture_output=True, text=True, timeout=300)


class BackupTest(unittest.TestCase):
    def setUp(self):
        self.top = tempfile.mkdtemp(prefix="imgpipe-backup-")

    def tearDown(self):
        shutil.rmtree(self.top, ignore_errors=True)

    def test_a_backup_taken_under_load_serves_on_its_own(self):
        # Its workers run denoise only: the window_level jobs wait in their queue, so the copy
        # holds queued jobs whatever the timing, and the server run on the copy must finish them.
        server = ImgpipeServer("--demo", "--algorithms", "denoise")
        try:
            api = BackupApi(server)
            client = api.provision()
            study, series, images = api.ct()
            before = [api.submit(client, study, series, images[i % len(images)], "denoise")
                      for i in range(8)]
            done_before = {}
            for job_id in before:
                job = api.wait_terminal(job_id, client)
                self.assertEqual(job["status"], "succeeded", job)
                done_before[job_id] = api.outputs(job, client)
            originals = dict(api.every_file())

            # Jobs keep coming (and their outputs keep being written) while the copy is made.
            stop = threading.Event()
            submitted = []

            def load():
                i = 0
                while not stop.is_set():
                    algorithm = ("denoise", "window_level")[i % 2]
                    submitted.append(api.submit(client, study, series, images[i % len(images)],
                                                algorithm))
                    i += 1
                    time.sleep(0.01)
            loader = threading.Thread(target=load)
            loader.start()
            try:
                wait_for(lambda: len(submitted) >= 5, "jobs submitted under load")
                dest = os.path.join(self.top, "copy")
                done = backup(server.data_dir, dest)
            finally:
                stop.set()
                loader.join()
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn("written to " + dest, done.stdout)
            self.assertFalse(os.path.exists(dest + ".partial"))
            self.assertEqual(oct(os.stat(dest).st_mode & 0o777), "0o700")
            all_jobs = set(before) | set(submitted)
        finally:
            server.cleanup()

        # What the copy held, read before a server runs on it (for the log: timing decides).
        with sqlite3.connect(os.path.join(dest, "imgpipe.db")) as db:
            copied_statuses = dict(db.execute(
                "SELECT status, COUNT(*) FROM jobs_jobs GROUP BY status").fetchall())
        restored = ImgpipeServer(data_dir=dest)
        try:
            api = BackupApi(restored)
            self.assertEqual(dict(api.every_file()), originals)
            jobs = {j["job_id"]: j for j in api.jobs(client)}
            self.assertTrue(set(before) <= set(jobs), "every job done before the backup")
            self.assertTrue(set(jobs) <= all_jobs, "no job the server never had")
            self.assertGreater(len(jobs), len(before), "the copy caught jobs of the load")
            print(f"the copy holds {len(jobs)} of {len(all_jobs)} jobs; when taken: "
                  f"{copied_statuses}", flush=True)
            self.assertGreater(copied_statuses.get("queued", 0), 0)
            # Every job of the copy finishes there: a queued one's message was copied with it.
            for job_id in jobs:
                job = api.wait_terminal(job_id, client)
                self.assertEqual(job["status"], "succeeded", job)
                outputs = api.outputs(job, client)
                if job_id in done_before:
                    self.assertEqual(outputs, done_before[job_id], job_id)
                else:
                    self.assertTrue(outputs["image"].startswith(b"\x89PNG"), job_id)
        finally:
            restored.cleanup()

    def test_refusals(self):
        server = ImgpipeServer("--demo")
        server.stop()
        try:
            dest = os.path.join(self.top, "copy")
            self.assertEqual(backup(server.data_dir, dest).returncode, 0)
            again = backup(server.data_dir, dest)
            self.assertEqual(again.returncode, 2, again.stderr)
            self.assertIn("exists", again.stderr)
            # An interrupted backup's folder is left for the operator to look at and remove.
            os.mkdir(os.path.join(self.top, "next.partial"))
            interrupted = backup(server.data_dir, os.path.join(self.top, "next"))
            self.assertEqual(interrupted.returncode, 2, interrupted.stderr)
            self.assertIn("interrupted", interrupted.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.top, "next")))
            missing = backup(os.path.join(self.top, "nothing"), os.path.join(self.top, "x"))
            self.assertEqual(missing.returncode, 2, missing.stderr)
            self.assertIn("no imgpipe database", missing.stderr)
            pg = backup(server.data_dir, os.path.join(self.top, "y"),
                        "--database-url", "postgresql://127.0.0.1:1/imgpipe")
            self.assertEqual(pg.returncode, 2, pg.stderr)
            self.assertIn("PostgreSQL", pg.stderr)
            self.assertEqual(backup(server.data_dir, "").returncode, 2)
            inside = backup(server.data_dir + "/", os.path.join(server.data_dir, "blobs", "copy"))
            self.assertEqual(inside.returncode, 2, inside.stderr)
            self.assertIn("inside the data dir", inside.stderr)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
