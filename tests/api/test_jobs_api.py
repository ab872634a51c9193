#!/usr/bin/python3
"""End-to-end tests of the processing pipeline through a live `imgpipe serve` (--demo data):
provisioning, the router's validation, every built-in algorithm, outputs, idempotency, cancel,
limits, access control, and a worker killed in the middle of a job."""
import io
import json
import os
import signal
import sqlite3
import sys
import time
import unittest

import numpy  # Debian python3-numpy, pulled in by python3-pydicom
import pydicom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402

JSON = {"Content-Type": "application/json"}


def wait_for(fn, what, timeout=120):
    """Polls fn() until it returns a truthy value (a failure after `timeout`, not a timing test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


class Api:
    """Helpers over one server."""

    def __init__(self, server):
        self.s = server

    def provision(self):
        status, _, body = self.s.request("POST", "/api/provision")
        assert status == 201, (status, body)
        return json.loads(body)["client_id"]

    def ct(self):
        """(study, series, [image ids in instance order]) of the demo CT series."""
        studies = self.s.get_json("/pacs/studies?ModalitiesInStudy=CT")["studies"]
        study = self.s.get_json(f"/pacs/studies/{studies[0]['study_id']}")
        series = [x for x in study["series"] if x["modality"] == "CT"][0]
        detail = self.s.get_json(f"/pacs/studies/{study['study_id']}/series/{series['series_id']}")
        images = [i["image_id"] for i in detail["images"]]
        return study["study_id"], series["series_id"], images

    def process(self, algorithm, body, headers=None):
        status, hdrs, data = self.s.request("POST", f"/api/process/{algorithm}",
                                            json.dumps(body).encode(), {**JSON, **(headers or {})})
        return status, hdrs, json.loads(data) if data else None

    def job(self, job_id, client):
        return self.s.get_json(f"/api/jobs/{job_id}?client_id={client}")

    def wait_terminal(self, job_id, client):
        return wait_for(lambda: (lambda j: j if j["status"] in ("succeeded", "failed", "cancelled")
                                 else None)(self.job(job_id, client)), f"job {job_id}")

    def result(self, url, client):
        status, hdrs, data = self.s.request("GET", f"{url}?client_id={client}")
        assert status == 200, (url, status, data[:200])
        return hdrs, data


def dicom_of(data):
    return pydicom.dcmread(io.BytesIO(data))


def hu(ds):
    return ds.pixel_array.astype(numpy.float64) * float(getattr(ds, "RescaleSlope", 1)) + \
        float(getattr(ds, "RescaleIntercept", 0))


class PipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ImgpipeServer("--demo")
        cls.api = Api(cls.server)
        cls.client = cls.api.provision()
        cls.study, cls.series, cls.images = cls.api.ct()
        cls.image = cls.images[len(cls.images) // 2]
        status, _, cls.source_bytes = cls.server.request(
            "GET", f"/pacs/studies/{cls.study}/series/{cls.series}/images/{cls.image}/file")
        assert status == 200
        cls.source = dicom_of(cls.source_bytes)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def body(self, **overrides):
        b = {"study_id": self.study, "series_id": self.series, "image_id": self.image,
             "scope": "image", "client_id": self.client}
        b.update(overrides)
        return b

    def run_job(self, algorithm, params=None):
        status, hdrs, reply = self.api.process(algorithm, self.body(params=params or {}))
        self.assertEqual(status, 202, reply)
        self.assertEqual(reply["status"], "queued")
        self.assertEqual(hdrs["location"], "/api/jobs/" + reply["job_id"])
        job = self.api.wait_terminal(reply["job_id"], self.client)
        self.assertEqual(job["status"], "succeeded", job)
        _, png = self.api.result(job["outputs"]["image"], self.client)
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        hdrs, dcm = self.api.result(job["outputs"]["dicom"], self.client)
        self.assertEqual(hdrs["content-type"], "application/dicom")
        return job, dicom_of(dcm)

    def assert_derived(self, ds):
        """A new instance in a new series of the source's study, referencing the source."""
        self.assertEqual(ds.StudyInstanceUID, self.study)
        self.assertNotEqual(ds.SeriesInstanceUID, self.series)
        self.assertNotEqual(ds.SOPInstanceUID, self.image)
        self.assertEqual(ds.SourceImageSequence[0].ReferencedSOPInstanceUID, self.image)
        self.assertEqual(ds.PatientID, self.source.PatientID)

    # --- provisioning and algorithms ---------------------------------------------------------

    def test_provision_gives_distinct_url_safe_ids(self):
        a, b = self.api.provision(), self.api.provision()
        self.assertNotEqual(a, b)
        self.assertRegex(a, r"^[A-Za-z0-9_-]{22}$")

    def test_algorithms_list_schemas_and_queues(self):
        algos = {a["name"]: a for a in self.server.get_json("/api/algorithms")["algorithms"]}
        for name in ("denoise", "clahe", "canny", "window_level", "threshold", "resize",
                     "deidentify", "processing_1"):
            self.assertIn(name, algos)
            self.assertEqual(algos[name]["queue"], "algo." + name)
            self.assertEqual(algos[name]["params"]["type"], "object")
            self.assertIn("image", algos[name]["scopes"])
        self.assertEqual(algos["processing_1"]["alias_of"], "clahe")
        sigma = algos["denoise"]["params"]["properties"]["sigma"]
        self.assertEqual((sigma["minimum"], sigma["maximum"]), (0.1, 20))
        queue = self.server.get_json(algos["clahe"]["queue_url"])
        self.assertEqual(queue["name"], "algo.clahe")

    # --- every built-in, end to end ----------------------------------------------------------

    def test_otsu_mask_separates_the_phantom_materials(self):
        job, ds = self.run_job("threshold", {"method": "otsu"})
        self.assert_derived(ds)
        mask = ds.pixel_array
        self.assertEqual(set(numpy.unique(mask)), {0, 255})
        values = hu(self.source)
        inside, outside = values[mask == 255], values[mask == 0]
        # Everything in the mask is denser than everything outside it, by the Otsu threshold.
        threshold = job["summary"]["threshold"]
        self.assertGreaterEqual(inside.min(), outside.max() - 1)
        self.assertGreater(inside.mean() - outside.mean(), 500)
        self.assertIn("overlay", job["outputs"])
        self.assertIn("mask", job["outputs"])
        self.assertTrue(outside.max() - 1 <= threshold <= inside.min() + 1, threshold)

    def test_bone_preset_keeps_only_bone(self):
        _, ds = self.run_job("threshold", {"method": "hu_range", "preset": "bone"})
        values = hu(self.source)
        mask = ds.pixel_array == 255
        self.assertTrue(mask.any())
        self.assertGreaterEqual(values[mask].min(), 300)
        self.assertTrue((values[~mask] < 300).all() | (values[~mask] > 3000).all())

    def test_denoise_smooths_and_keeps_units(self):
        _, ds = self.run_job("denoise", {"method": "gaussian", "sigma": 2})
        self.assert_derived(ds)
        before, after = hu(self.source), hu(ds)
        self.assertEqual(after.shape, before.shape)
        # Neighbour differences shrink; the mean stays in Hounsfield units.
        self.assertLess(numpy.abs(numpy.diff(after, axis=1)).mean(),
                        0.8 * numpy.abs(numpy.diff(before, axis=1)).mean())
        self.assertAlmostEqual(after.mean(), before.mean(), delta=20)

    def test_clahe_and_processing_1_agree(self):
        _, a = self.run_job("clahe")
        _, b = self.run_job("processing_1")
        self.assertTrue(numpy.array_equal(a.pixel_array, b.pixel_array))
        self.assertFalse(numpy.array_equal(a.pixel_array, self.source.pixel_array))

    def test_canny_edges_are_thin_binary(self):
        job, ds = self.run_job("canny")
        edges = ds.pixel_array
        self.assertEqual(set(numpy.unique(edges)), {0, 255})
        fraction = (edges == 255).mean()
        self.assertTrue(0.001 < fraction < 0.2, fraction)

    def test_window_level_to_eight_bits(self):
        _, ds = self.run_job("window_level", {"center": 40, "width": 400})
        px = ds.pixel_array
        self.assertEqual(ds.BitsAllocated, 8)
        values = hu(self.source)
        self.assertTrue((px[values <= -160] == 0).all())
        self.assertTrue((px[values >= 240] == 255).all())

    def test_resize_to_the_requested_size(self):
        _, ds = self.run_job("resize", {"width": 128})
        self.assertEqual((ds.Rows, ds.Columns), (128, 128))

    def test_deidentify_removes_identity_keeps_pixels(self):
        job, ds = self.run_job("deidentify")
        self.assertEqual(str(ds.PatientName), "ANONYMOUS")
        self.assertNotEqual(ds.PatientID, self.source.PatientID)
        self.assertNotEqual(ds.StudyInstanceUID, self.study)
        self.assertNotEqual(ds.SOPInstanceUID, self.image)
        self.assertEqual(ds.PatientIdentityRemoved, "YES")
        self.assertTrue(numpy.array_equal(ds.pixel_array, self.source.pixel_array))

    def test_series_job_reports_progress_and_every_image(self):
        status, _, reply = self.api.process("window_level", self.body(scope="series", image_id=None))
        self.assertEqual(status, 202, reply)
        job = self.api.wait_terminal(reply["job_id"], self.client)
        self.assertEqual(job["status"], "succeeded", job)
        self.assertEqual(job["progress"], {"done": len(self.images), "total": len(self.images)})
        _, manifest = self.api.result(job["outputs"]["manifest"], self.client)
        entries = json.loads(manifest)["images"]
        self.assertEqual([e["image_id"] for e in entries], self.images)

    # --- stored events (the WebSocket's HTTP fallback) --------------------------------------

    def test_events_hold_each_result_once_in_order(self):
        client = self.api.provision()
        ids = []
        # One algorithm: its queue is FIFO per client, so the results are too (two algorithms'
        # queues run in parallel and may finish in either order).
        for algorithm in ("window_level", "window_level", "nope-invalid"):
            status, _, reply = self.api.process(algorithm, self.body(client_id=client))
            if status == 202:
                ids.append(reply["job_id"])
        for job_id in ids:
            self.api.wait_terminal(job_id, client)

        def events(after=0):
            return self.server.get_json(f"/api/events?client_id={client}&after={after}")

        got = wait_for(lambda: (lambda e: e if len(e["events"]) == 2 else None)(events()),
                       "two result events")
        self.assertEqual([e["seq"] for e in got["events"]], [1, 2])
        self.assertEqual([e["job_id"] for e in got["events"]], ids)  # one client: FIFO
        self.assertTrue(all(e["type"] == "result" and e["status"] == "succeeded"
                            for e in got["events"]))
        self.assertEqual(got["last_seq"], 2)
        self.assertEqual(events(after=1)["events"][0]["seq"], 2)
        self.assertEqual(events(after=2), {"events": [], "last_seq": 2})
        status, _, _ = self.server.request("GET", "/api/events")
        self.assertEqual(status, 401)
        status, _, _ = self.server.request("GET", "/api/events?client_id=unknown")
        self.assertEqual(status, 401)
        for bad in ("after=-1", "after=x", "limit=0", "limit=5000"):
            status, _, _ = self.server.request("GET", f"/api/events?client_id={client}&{bad}")
            self.assertEqual(status, 400, bad)

    # --- idempotency, cancel, listing --------------------------------------------------------

    def test_idempotency_key_returns_the_first_job(self):
        key = {"Idempotency-Key": "retry-" + str(time.monotonic())}
        s1, h1, first = self.api.process("clahe", self.body(), key)
        s2, h2, second = self.api.process("clahe", self.body(params={"clip_limit": 3}), key)
        self.assertEqual((s1, s2), (202, 202))
        self.assertEqual(first["job_id"], second["job_id"])
        self.assertNotIn("idempotent-replayed", h1)
        self.assertEqual(h2["idempotent-replayed"], "true")
        jobs = self.server.get_json(f"/api/jobs?client_id={self.client}&limit=1000")["jobs"]
        self.assertEqual(sum(j["job_id"] == first["job_id"] for j in jobs), 1)

    def test_cancel_a_finished_job_is_a_conflict(self):
        job, _ = self.run_job("window_level")
        status, _, _ = self.server.request(
            "DELETE", f"/api/jobs/{job['job_id']}?client_id={self.client}")
        self.assertEqual(status, 409)

    def test_list_jobs_filters_by_status(self):
        self.run_job("window_level")
        jobs = self.server.get_json(f"/api/jobs?client_id={self.client}&status=succeeded")["jobs"]
        self.assertTrue(jobs)
        self.assertTrue(all(j["status"] == "succeeded" for j in jobs))
        ids = [j["job_id"] for j in jobs]
        self.assertEqual(ids, sorted(ids, reverse=True))
        for bad in ("status=nope", "limit=0", "limit=x"):
            status, _, _ = self.server.request("GET", f"/api/jobs?client_id={self.client}&{bad}")
            self.assertEqual(status, 400, bad)

    # --- access control ----------------------------------------------------------------------

    def test_other_clients_are_refused(self):
        job, _ = self.run_job("window_level")
        other = self.api.provision()
        jid = job["job_id"]
        for method, path in (("GET", f"/api/jobs/{jid}"), ("DELETE", f"/api/jobs/{jid}"),
                             ("GET", job["outputs"]["image"])):
            status, _, _ = self.server.request(method, f"{path}?client_id={other}")
            self.assertEqual(status, 403, path)
            status, _, _ = self.server.request(method, path)
            self.assertEqual(status, 401, path)
            status, _, _ = self.server.request(method, f"{path}?client_id=not-a-client")
            self.assertEqual(status, 401, path)
        # The header works as well as the query parameter.
        status, _, _ = self.server.request("GET", f"/api/jobs/{jid}",
                                           headers={"X-Client-Id": self.client})
        self.assertEqual(status, 200)
        status, _, _ = self.server.request("GET", f"/api/jobs/nope?client_id={self.client}")
        self.assertEqual(status, 404)
        status, _, _ = self.server.request(
            "GET", f"/api/results/{jid}/nothing.png?client_id={self.client}")
        self.assertEqual(status, 404)
        status, _, _ = self.server.request(
            "GET", f"/api/results/{jid}/../x.png?client_id={self.client}")
        self.assertIn(status, (400, 404))

    # --- every validation error --------------------------------------------------------------

    def test_every_validation_error(self):
        cases = [
            ("nope", self.body(), 404, "not_found"),
            ("denoise", self.body(params={"sigma": "x"}), 400, "invalid_argument"),
            ("denoise", self.body(params={"sigma": 99}), 400, "invalid_argument"),
            ("denoise", self.body(params={"nope": 1}), 400, "invalid_argument"),
            ("denoise", self.body(params=[1]), 400, "invalid_argument"),
            ("denoise", self.body(scope="galaxy"), 400, "invalid_argument"),
            ("denoise", self.body(image_id="not a uid"), 400, "invalid_argument"),
            ("denoise", self.body(image_id="1.2.3.4.5"), 404, "not_found"),
            ("denoise", self.body(series_id="1.2.3.4.5", scope="series"), 404, "not_found"),
            ("denoise", self.body(study_id="1.2.3.4.5", scope="study"), 404, "not_found"),
            ("denoise", self.body(study_id=None), 400, "invalid_argument"),
            ("denoise", self.body(client_id="unknown"), 401, "unauthenticated"),
            ("denoise", self.body(client_id=None), 401, "unauthenticated"),
            ("denoise", self.body(client_id=5), 400, "invalid_argument"),
            ("denoise", {**self.body(), "extra": 1}, 400, "invalid_argument"),
        ]
        before = len(self.server.get_json(f"/api/jobs?client_id={self.client}&limit=1000")["jobs"])
        for algorithm, body, status, code in cases:
            got, _, reply = self.api.process(algorithm, body)
            self.assertEqual((got, reply["error"]["code"]), (status, code), (algorithm, body))
            self.assertTrue(reply["error"]["message"])
        raw = [(b"{", JSON, 400), (b"[1]", JSON, 400), (b"{}", {"Content-Type": "text/plain"}, 415),
               (b"[" * 100 + b"]" * 100, JSON, 400), (b"{\"a\":\"" + b"x" * 70000 + b"\"}", JSON, 413)]
        for data, headers, status in raw:
            got, _, reply = self.server.request("POST", "/api/process/denoise", data, headers)
            self.assertEqual(got, status, data[:20])
            self.assertIn(b'"error"', reply)
        after = len(self.server.get_json(f"/api/jobs?client_id={self.client}&limit=1000")["jobs"])
        self.assertEqual(before, after)  # nothing was created


class QueueLimitTest(unittest.TestCase):
    """An API-only process (no workers): jobs stay queued, so cancel and the depth limit show."""

    def setUp(self):
        self.server = ImgpipeServer("--demo", "--roles", "api",
                                    env={"IMGPIPE_QUEUE_MAX_DEPTH": "2"})
        self.api = Api(self.server)

    def tearDown(self):
        self.server.cleanup()

    def test_full_queue_is_429_with_retry_after_and_cancel_of_queued(self):
        client = self.api.provision()
        study, series, images = self.api.ct()
        body = {"study_id": study, "series_id": series, "image_id": images[0],
                "client_id": client}
        ids = []
        for _ in range(2):
            status, _, reply = self.api.process("clahe", body)
            self.assertEqual(status, 202)
            ids.append(reply["job_id"])
        status, headers, reply = self.api.process("clahe", body)
        self.assertEqual(status, 429)
        self.assertEqual(reply["error"]["code"], "resource_exhausted")
        self.assertGreaterEqual(int(headers["retry-after"]), 1)
        # Other algorithms have their own queues.
        status, _, _ = self.api.process("canny", body)
        self.assertEqual(status, 202)
        # /readyz names the full queue, and stays ready: reads and other queues still work.
        ready = self.server.get_json("/readyz")
        self.assertEqual(ready["status"], "ready")
        self.assertIn("algo.clahe holds 2 messages (limit 2)", ready["checks"]["queues"])
        self.assertNotIn("algo.canny", ready["checks"]["queues"])
        # Cancel a queued job: it is cancelled at once (its message stays until a worker drops it).
        status, _, data = self.server.request("DELETE", f"/api/jobs/{ids[0]}?client_id={client}")
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["status"], "cancelled")
        self.assertEqual(self.api.job(ids[0], client)["error"]["code"], "cancelled")


def write_external(folder, name, script, time_limit=30):
    """An external algorithm `name` running the shell `script` (docs/algorithms.md)."""
    os.makedirs(os.path.join(folder, name))
    path = os.path.join(folder, name, "run.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + script + "\n")
    os.chmod(path, 0o755)
    with open(os.path.join(folder, name, "algorithm.json"), "w") as f:
        json.dump({"name": name, "description": "test: " + name, "command": ["run.sh"],
                   "time_limit_seconds": time_limit}, f)


class ExternalAlgorithmTest(unittest.TestCase):
    """External programs run by the workers: the shipped example, a crash, a hang, a cancel."""

    @classmethod
    def setUpClass(cls):
        import shutil
        import tempfile
        cls.folder = tempfile.mkdtemp(prefix="imgpipe-external-")
        examples = os.environ.get("IMGPIPE_EXAMPLES_DIR", "build/external-algorithms")
        shutil.copytree(os.path.join(examples, "invert"), os.path.join(cls.folder, "invert"))
        write_external(cls.folder, "crasher", "echo about to crash >&2; kill -SEGV $$")
        write_external(cls.folder, "hanger", "sleep 600", time_limit=2)
        write_external(cls.folder, "sleeper", "exec sleep 987")
        cls.server = ImgpipeServer("--demo", "--external-dir", cls.folder)
        cls.api = Api(cls.server)
        cls.client = cls.api.provision()
        cls.study, cls.series, images = cls.api.ct()
        cls.image = images[0]

    @classmethod
    def tearDownClass(cls):
        import shutil
        cls.server.cleanup()
        shutil.rmtree(cls.folder, ignore_errors=True)

    def submit(self, algorithm, params=None):
        status, _, reply = self.api.process(algorithm, {
            "study_id": self.study, "series_id": self.series, "image_id": self.image,
            "client_id": self.client, "params": params or {}})
        self.assertEqual(status, 202, reply)
        return reply["job_id"]

    def test_external_algorithms_are_listed(self):
        names = [a["name"] for a in self.server.get_json("/api/algorithms")["algorithms"]]
        for name in ("invert", "crasher", "hanger", "sleeper", "clahe"):
            self.assertIn(name, names)

    def test_example_inverts_the_image(self):
        job = self.api.wait_terminal(self.submit("invert"), self.client)
        self.assertEqual(job["status"], "succeeded", job)
        _, dcm = self.api.result(job["outputs"]["dicom"], self.client)
        _, source = self.api.result(
            f"/pacs/studies/{self.study}/series/{self.series}/images/{self.image}/file", self.client)
        before, after = hu(dicom_of(source)), hu(dicom_of(dcm))
        expected = before.min() + before.max() - before
        self.assertLess(numpy.abs(after - expected).max(), 1.0)

    def test_crash_fails_the_job_with_the_signal(self):
        job = self.api.wait_terminal(self.submit("crasher"), self.client)
        self.assertEqual(job["status"], "failed")
        self.assertEqual(job["error"]["code"], "unprocessable")
        self.assertIn("SIGSEGV", job["error"]["message"])
        self.assertEqual(job["attempts"], 1)  # not retried
        self.assertEqual(self.server.request("GET", "/healthz")[0], 200)  # the worker lives on

    def test_hang_is_killed_at_its_time_limit(self):
        job = self.api.wait_terminal(self.submit("hanger"), self.client)
        self.assertEqual(job["status"], "failed")
        self.assertIn("timed out after 2 s", job["error"]["message"])
        self.assertFalse(sleeping("600"))

    def test_cancel_kills_the_running_program(self):
        job_id = self.submit("sleeper")
        wait_for(lambda: sleeping("987"), "the external program to start")
        status, _, data = self.server.request(
            "DELETE", f"/api/jobs/{job_id}?client_id={self.client}")
        self.assertEqual(status, 200, data)
        wait_for(lambda: not sleeping("987"), "the external program to be killed", timeout=30)
        self.assertEqual(self.api.job(job_id, self.client)["status"], "cancelled")


def sleeping(arg):
    """Whether a `sleep ARG` process is running (the external programs' stand-in)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read().split(b"\0")[:2] == [b"sleep", arg.encode()]:
                        return True
            except OSError:
                pass
    return False


class WorkerCrashTest(unittest.TestCase):
    """kill -9 in the middle of a job: after the visibility timeout the job runs again and
    completes, with exactly one result message."""

    def test_job_completes_once_after_a_kill(self):
        server = ImgpipeServer("--demo", env={"IMGPIPE_QUEUE_VISIBILITY_TIMEOUT_S": "2"})
        data_dir = server.data_dir
        try:
            api = Api(server)
            client = api.provision()
            study, series, _ = api.ct()
            # A study job slow enough to be caught running: every CT slice enlarged 4x.
            status, _, reply = api.process("resize", {
                "study_id": study, "scope": "study", "client_id": client,
                "params": {"scale": 4}})
            self.assertEqual(status, 202, reply)
            job_id = reply["job_id"]
            wait_for(lambda: api.job(job_id, client)["status"] == "running", "running")
            server.stop(signal.SIGKILL)

            server = ImgpipeServer(env={"IMGPIPE_QUEUE_VISIBILITY_TIMEOUT_S": "2"},
                                   data_dir=data_dir)
            api = Api(server)
            job = api.wait_terminal(job_id, client)
            self.assertEqual(job["status"], "succeeded", job)
            self.assertGreaterEqual(job["attempts"], 2)
            server.stop()
            # Exactly one result for the job, whether still on the results queue or already
            # stored as the client's event by the results consumer.
            db = sqlite3.connect(os.path.join(data_dir, "imgpipe.db"))
            bodies = [row[0] for row in db.execute(
                "SELECT m.body FROM queue_messages m JOIN queue_queues q ON q.id = m.queue_id"
                " WHERE q.name = 'results'")]
            bodies += [row[0] for row in db.execute("SELECT body FROM push_events")]
            db.close()
            results = [json.loads(b) for b in bodies]
            mine = [r for r in results if r.get("job_id") == job_id and r["type"] == "result"]
            self.assertEqual(len(mine), 1, results)
        finally:
            server.cleanup()
            import shutil
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
