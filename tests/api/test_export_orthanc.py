"""Export of job outputs to a real, independent PACS (issue 10, point 3): a throwaway Orthanc in
its own network namespace (orthanc.py) receives a job's DICOM outputs by C-STORE and by STOW-RS,
and finds them with QIDO-RS. A dead destination (a closed port on the host side of the veth pair)
ends "failed" after its attempts while the job stays succeeded; an unknown destination is refused
at submit; a bad destinations file stops the start; an export pending over a restart is delivered
(the "export" queue is durable).

Needs root (ip netns), Debian orthanc + orthanc-dicomweb, python3-pydicom.
"""
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import pydicom

sys.path.insert(0, os.path.dirname(__file__))
from imgpipe_server import ImgpipeServer  # noqa: E402
from orthanc import Orthanc  # noqa: E402

JSON = {"Content-Type": "application/json"}
SECRET = "Bearer export-secret-0123456789"
FINAL = ("sent", "failed", "skipped")


def wait_for(fn, what, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def closed_port(host):
    """A port on `host` where nothing listens (connections are refused at once)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Client:
    """The processing API of one server, for one client."""

    def __init__(self, server):
        self.s = server
        status, _, body = server.request("POST", "/api/provision")
        assert status == 201, (status, body)
        self.id = json.loads(body)["client_id"]

    def submit(self, algorithm, body):
        body = {**body, "client_id": self.id}
        status, _, data = self.s.request("POST", f"/api/process/{algorithm}",
                                         json.dumps(body).encode(), JSON)
        return status, json.loads(data) if data else None

    def job(self, job_id):
        return self.s.get_json(f"/api/jobs/{job_id}?client_id={self.id}")

    def wait_job(self, job_id):
        return wait_for(lambda: (lambda j: j if j["status"] in ("succeeded", "failed", "cancelled")
                                 else None)(self.job(job_id)), f"job {job_id}")

    def wait_exports(self, job_id, timeout=120):
        """The job once every export is final."""
        return wait_for(lambda: (lambda j: j if j["exports"] and all(
            e["status"] in FINAL for e in j["exports"]) else None)(self.job(job_id)),
            f"the exports of job {job_id}", timeout)

    def dicom(self, job_id, name):
        status, _, data = self.s.request("GET", f"/api/results/{job_id}/{name}?client_id={self.id}")
        assert status == 200, (name, status, data[:200])
        return pydicom.dcmread(io.BytesIO(data))


def demo_ct(server):
    """(study, series, [image ids]) of the demo CT series."""
    studies = server.get_json("/pacs/studies?ModalitiesInStudy=CT")["studies"]
    study = server.get_json(f"/pacs/studies/{studies[0]['study_id']}")
    series = [x for x in study["series"] if x["modality"] == "CT"][0]
    detail = server.get_json(f"/pacs/studies/{study['study_id']}/series/{series['series_id']}")
    return study["study_id"], series["series_id"], [i["image_id"] for i in detail["images"]]


def by_name(job):
    return {e["destination"]: e for e in job["exports"]}


class ExportToOrthancTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pacs = Orthanc()
        try:
            dead = closed_port(cls.pacs.host_ip)
            cls.folder = tempfile.mkdtemp(prefix="imgpipe-export-")
            cls.destinations = os.path.join(cls.folder, "destinations.json")
            with open(cls.destinations, "w") as f:
                json.dump({"destinations": [
                    {"name": "orthanc-dimse", "type": "dicom", "host": cls.pacs.ip,
                     "port": cls.pacs.dicom_port, "called_aet": cls.pacs.aet,
                     "calling_aet": "IMGPIPE"},
                    {"name": "orthanc-web", "type": "dicomweb", "url": cls.pacs.dicomweb_url,
                     "headers": {"Authorization": SECRET}},
                    {"name": "dead", "type": "dicomweb", "max_attempts": 2, "timeout_s": 5,
                     "url": f"http://{cls.pacs.host_ip}:{dead}/dicom-web",
                     "headers": {"Authorization": SECRET}},
                    {"name": "dead-dimse", "type": "dicom", "max_attempts": 2, "timeout_s": 5,
                     "host": cls.pacs.host_ip, "port": dead, "called_aet": "NOBODY"},
                ]}, f)
            cls.env = {"IMGPIPE_EXPORT_DESTINATIONS_FILE": cls.destinations,
                       "IMGPIPE_LOG_LEVEL": "debug"}
            cls.server = ImgpipeServer("--demo", env=cls.env)
        except Exception:
            cls.pacs.stop()
            raise
        cls.study, cls.series, cls.images = demo_ct(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.pacs.stop()

    def image_body(self, **extra):
        return {"study_id": self.study, "series_id": self.series, "image_id": self.images[0],
                "scope": "image", **extra}

    def assert_at_orthanc(self, study, series, count):
        found = self.pacs.qido(f"/studies?StudyInstanceUID={study}")
        self.assertEqual(len(found), 1, found)
        series_found = self.pacs.qido(f"/studies/{study}/series?SeriesInstanceUID={series}")
        self.assertEqual(len(series_found), 1, series_found)
        instances = self.pacs.qido(f"/studies/{study}/series/{series}/instances")
        self.assertEqual(len(instances), count)

    def test_destinations_are_listed_by_name_and_type_only(self):
        listed = self.server.get_json("/api/destinations")["destinations"]
        self.assertEqual(listed, [{"name": "orthanc-dimse", "type": "dicom"},
                                  {"name": "orthanc-web", "type": "dicomweb"},
                                  {"name": "dead", "type": "dicomweb"},
                                  {"name": "dead-dimse", "type": "dicom"}])

    def test_unknown_destination_is_refused_at_submit(self):
        c = Client(self.server)
        for export, why in ((["nowhere"], "unknown export destination"),
                            (["orthanc-web", "orthanc-web"], "named twice"),
                            ("orthanc-web", "array")):
            status, body = c.submit("window_level", self.image_body(export=export))
            self.assertEqual(status, 400, body)
            self.assertEqual(body["error"]["code"], "invalid_argument")
            self.assertIn(why, body["error"]["message"])
        self.assertEqual(self.server.get_json(f"/api/jobs?client_id={c.id}")["jobs"], [])

    def test_image_jobs_are_exported_each_way_and_found_by_qido(self):
        # One job per way, so each derived series (its UID comes from the job) proves one path.
        c = Client(self.server)
        jobs = {}
        for destination in ("orthanc-dimse", "orthanc-web"):
            status, accepted = c.submit("window_level", self.image_body(
                export=[destination], params={"center": 40, "width": 400}))
            self.assertEqual(status, 202, accepted)
            jobs[destination] = accepted["job_id"]
        for destination, job_id in jobs.items():
            job = c.wait_job(job_id)
            self.assertEqual(job["status"], "succeeded", job)
            job = c.wait_exports(job_id)
            export = by_name(job)[destination]
            self.assertEqual((export["status"], export["sent"], export["error"]), ("sent", 1, None),
                             export)
            self.assertGreaterEqual(export["attempts"], 1)
            result = c.dicom(job_id, "result.dcm")
            self.assertEqual(result.StudyInstanceUID, self.study)
            self.assert_at_orthanc(self.study, result.SeriesInstanceUID, 1)
        # The browser hears of each finished export (stored events, the WebSocket's fallback).
        events = self.server.get_json(f"/api/events?client_id={c.id}&after=0")["events"]
        export_events = [e for e in events if e["type"] == "export"]
        self.assertEqual({(e["job_id"], e["destination"], e["status"]) for e in export_events},
                         {(jobs["orthanc-dimse"], "orthanc-dimse", "sent"),
                          (jobs["orthanc-web"], "orthanc-web", "sent")})

    def test_series_jobs_are_exported_with_every_image_each_way(self):
        c = Client(self.server)
        jobs = {}
        for destination in ("orthanc-dimse", "orthanc-web"):
            body = {"study_id": self.study, "series_id": self.series, "scope": "series",
                    "export": [destination]}
            status, accepted = c.submit("threshold", body)
            self.assertEqual(status, 202, accepted)
            jobs[destination] = accepted["job_id"]
        for destination, job_id in jobs.items():
            job = c.wait_job(job_id)
            self.assertEqual(job["status"], "succeeded", job)
            job = c.wait_exports(job_id)
            export = by_name(job)[destination]
            self.assertEqual(export["status"], "sent", export)
            # Every .dcm output of the job: the per-image results (and SEG objects where made).
            self.assertGreaterEqual(export["sent"], len(self.images))
            first = c.dicom(job_id, "1/result.dcm")
            self.assert_at_orthanc(self.study, first.SeriesInstanceUID, len(self.images))

    def test_cli_process_export(self):
        base = self.server.base
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMGPIPE_")}
        env.update({"API_BASE": base + "/api", "PACS_API_BASE": base + "/pacs",
                    "WS_ENDPOINT": "ws" + base[len("http"):] + "/ws"})
        binary = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
        done = subprocess.run(
            [binary, "process", "window_level", "--study", self.study, "--series", self.series,
             "--image", self.images[1], "--export", "orthanc-web", "--json"],
            capture_output=True, text=True, env=env, timeout=180)
        self.assertEqual(done.returncode, 0, done.stderr)
        result = json.loads(done.stdout)
        self.assertEqual(result["status"], "succeeded")
        self.assertEqual([e["destination"] for e in result["exports"]], ["orthanc-web"])
        self.assertIn(result["exports"][0]["status"], ("queued", "sending", "sent"))
        refused = subprocess.run(
            [binary, "process", "window_level", "--study", self.study, "--series", self.series,
             "--image", self.images[1], "--export", "nowhere"],
            capture_output=True, text=True, env=env, timeout=180)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("unknown export destination", refused.stderr)

    def test_dead_destination_fails_after_its_attempts_and_the_job_stays_succeeded(self):
        c = Client(self.server)
        status, accepted = c.submit("window_level", self.image_body(
            export=["dead", "dead-dimse", "orthanc-web"]))
        self.assertEqual(status, 202, accepted)
        job = c.wait_exports(accepted["job_id"])
        self.assertEqual(job["status"], "succeeded")
        exports = by_name(job)
        for name, how in (("dead", "STOW-RS"), ("dead-dimse", "C-STORE")):
            dead = exports[name]
            self.assertEqual(dead["status"], "failed", dead)
            self.assertEqual(dead["attempts"], 2)
            self.assertEqual(dead["sent"], 0)
            self.assertIn("gave up after 2 attempts", dead["error"])
            self.assertIn(how, dead["error"])
            self.assertIn(f"{self.pacs.host_ip}", dead["error"])
            self.assertNotIn("export-secret", dead["error"])
        # A dead destination holds back no other.
        self.assertEqual(exports["orthanc-web"]["status"], "sent", exports["orthanc-web"])

    def test_secrets_are_never_logged(self):
        c = Client(self.server)
        status, accepted = c.submit("window_level", self.image_body(export=["orthanc-web"]))
        self.assertEqual(status, 202, accepted)
        c.wait_exports(accepted["job_id"])
        self.assertTrue(self.server.stderr_lines)
        for line in self.server.stderr_lines:
            self.assertNotIn("export-secret", line)


class ExportAcrossRestartTest(unittest.TestCase):
    def test_pending_export_is_delivered_after_a_restart(self):
        with Orthanc() as pacs:
            folder = tempfile.mkdtemp(prefix="imgpipe-export-")
            destinations = os.path.join(folder, "destinations.json")
            with open(destinations, "w") as f:
                json.dump({"destinations": [{"name": "pacs", "type": "dicomweb",
                                             "url": pacs.dicomweb_url}]}, f)
            env = {"IMGPIPE_EXPORT_DESTINATIONS_FILE": destinations}
            # First a process that runs jobs but sends no exports (export.workers = 0).
            first = ImgpipeServer("--demo", env={**env, "IMGPIPE_EXPORT_WORKERS": "0"})
            try:
                study, series, images = demo_ct(first)
                c = Client(first)
                status, accepted = c.submit("window_level", {
                    "study_id": study, "series_id": series, "image_id": images[0],
                    "scope": "image", "export": ["pacs"]})
                self.assertEqual(status, 202, accepted)
                job = c.wait_job(accepted["job_id"])
                self.assertEqual(job["status"], "succeeded")
                self.assertEqual(by_name(job)["pacs"]["status"], "queued")
                self.assertEqual(pacs.instance_count(), 0)
            finally:
                first.stop()
            second = ImgpipeServer(env=env, data_dir=first.data_dir)
            try:
                c.s = second
                job = c.wait_exports(job["job_id"])
                self.assertEqual(by_name(job)["pacs"]["status"], "sent", job)
                result = c.dicom(job["job_id"], "result.dcm")
                found = pacs.qido(f"/studies/{study}/series?SeriesInstanceUID="
                                  f"{result.SeriesInstanceUID}")
                self.assertEqual(len(found), 1)
            finally:
                second.stop()
                first.cleanup()


class BadDestinationsFileTest(unittest.TestCase):
    def test_server_refuses_to_start_with_a_one_line_reason(self):
        folder = tempfile.mkdtemp(prefix="imgpipe-export-")
        path = os.path.join(folder, "destinations.json")
        with open(path, "w") as f:
            json.dump({"destinations": [{"name": "Bad Name", "type": "dicomweb",
                                         "url": "http://127.0.0.1:1",
                                         "headers": {"Authorization": SECRET}}]}, f)
        binary = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
        run = subprocess.run(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir",
             os.path.join(folder, "data")],
            env={**os.environ, "IMGPIPE_EXPORT_DESTINATIONS_FILE": path},
            capture_output=True, text=True, timeout=30)
        self.assertNotEqual(run.returncode, 0)
        self.assertEqual(run.stdout, "")
        lines = run.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, run.stderr)
        self.assertIn("export.destinations_file", lines[0])
        self.assertIn("name must be", lines[0])
        self.assertNotIn("export-secret", run.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
