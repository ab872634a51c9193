#!/usr/bin/python3
"""The upstream PACS (pacs.upstream_url) against a real Orthanc + DICOMweb plugin in its own
network namespace: imgpipe lists, previews, serves over DICOMweb and processes images that live
only in Orthanc, keeps the fetched ones readable when Orthanc dies, and says 503 for the others."""
import glob
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import pydicom  # Debian python3-pydicom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from orthanc import Orthanc  # noqa: E402

JSON = {"Content-Type": "application/json"}
PNG = b"\x89PNG\r\n\x1a\n"


def wait_for(fn, what, timeout=180):
    """Polls fn() until it returns a truthy value (a failure after `timeout`, not a timing test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def uids(data):
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds


class UpstreamOrthancTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        bin_path = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
        cls.demo_dir = tempfile.mkdtemp(prefix="imgpipe-upstream-demo-")
        subprocess.run([bin_path, "demo", "--out", cls.demo_dir], check=True,
                       capture_output=True)
        cls.orthanc = Orthanc()
        try:
            cls.mr_files = sorted(glob.glob(os.path.join(cls.demo_dir, "mr", "*.dcm")))
            cls.dx_files = sorted(glob.glob(os.path.join(cls.demo_dir, "dx", "*.dcm")))
            cls.ct_files = sorted(glob.glob(os.path.join(cls.demo_dir, "ct", "*.dcm")))[:3]
            assert cls.mr_files and cls.dx_files and cls.ct_files
            # Upstream only: the MR series and the DX image.
            for path in cls.mr_files + cls.dx_files:
                cls.orthanc.upload(read(path))
            cls.mr = {}  # SOPInstanceUID -> (instance number, Rows)
            for path in cls.mr_files:
                study, series, sop, ds = uids(read(path))
                cls.mr[sop] = (int(ds.InstanceNumber), int(ds.Rows))
            cls.mr_study, cls.mr_series = study, series
            cls.mr_patient_name, cls.mr_date = str(ds.PatientName), str(ds.StudyDate)
            cls.dx_study, cls.dx_series, cls.dx_image, _ = uids(read(cls.dx_files[0]))
            cls.ct_study = uids(read(cls.ct_files[0]))[0]
            # A rule matching every series: series that arrive (the local CT) fire it; images
            # merely fetched from the upstream (MR, DX) must not.
            cls.rules_file = os.path.join(cls.demo_dir, "rules.json")
            with open(cls.rules_file, "w") as f:
                json.dump({"rules": [{"name": "everything", "when": {"Modality": "*"},
                                      "algorithm": "window_level", "scope": "series",
                                      "quiet_seconds": 1}]}, f)
            cls.server = ImgpipeServer(env={
                "IMGPIPE_PACS_UPSTREAM_URL": cls.orthanc.dicomweb_url,
                "IMGPIPE_PACS_UPSTREAM_TIMEOUT_S": "10",
                "IMGPIPE_RULES_FILE": cls.rules_file})
        except Exception:
            cls.orthanc.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.orthanc.stop()
        subprocess.run(["rm", "-rf", cls.demo_dir], check=False)

    def get(self, path, headers=None):
        return self.server.request("GET", path, headers=headers)

    def series_path(self):
        return f"/pacs/studies/{self.mr_study}/series/{self.mr_series}"

    def mr_images(self):
        """The MR image ids in instance order, from imgpipe's series listing."""
        detail = self.server.get_json(self.series_path())
        return [i["image_id"] for i in detail["images"]]

    def process(self, body):
        status, _, data = self.server.request("POST", "/api/process/window_level",
                                              json.dumps(body).encode(), JSON)
        self.assertEqual(status, 202, data)
        job_id = json.loads(data)["job_id"]
        client = body["client_id"]

        def done():
            j = self.server.get_json(f"/api/jobs/{job_id}?client_id={client}")
            return j if j["status"] in ("succeeded", "failed", "cancelled") else None
        return wait_for(done, f"job {job_id}")

    def test_upstream_pacs(self):
        s = self.server
        # A local study beside the upstream ones.
        for path in self.ct_files:
            status, _, body = s.request("POST", "/pacs/images", read(path),
                                        {"Content-Type": "application/dicom", **s.admin_headers})
            self.assertEqual(status, 201, body)

        # ---- the study list merges both sources ----
        listing = s.get_json("/pacs/studies")
        by_id = {x["study_id"]: x for x in listing["studies"]}
        self.assertEqual(set(by_id), {self.ct_study, self.mr_study, self.dx_study})
        self.assertNotIn("warning", listing)
        self.assertEqual(listing["total"], 3)
        self.assertEqual(by_id[self.ct_study]["source"], "local")
        self.assertEqual(by_id[self.ct_study]["image_count"], 3)
        mr = by_id[self.mr_study]
        self.assertEqual(mr["source"], "upstream")
        self.assertEqual(mr["image_count"], len(self.mr_files))
        self.assertEqual(mr["series_count"], 1)
        self.assertEqual(mr["modalities"], ["MR"])
        self.assertEqual(by_id[self.dx_study]["image_count"], 1)
        # Filters reach the upstream; paging runs local first, then upstream.
        only_mr = s.get_json("/pacs/studies?ModalitiesInStudy=MR")["studies"]
        self.assertEqual([x["study_id"] for x in only_mr], [self.mr_study])
        name = urllib.parse.quote(self.mr_patient_name[:3] + "*")
        by_name = s.get_json(f"/pacs/studies?PatientName={name}")["studies"]
        self.assertIn(self.mr_study, [x["study_id"] for x in by_name])
        self.assertNotIn(self.ct_study, [x["study_id"] for x in by_name])
        by_date = s.get_json(f"/pacs/studies?StudyDate={self.mr_date}-{self.mr_date}")["studies"]
        self.assertIn(self.mr_study, [x["study_id"] for x in by_date])
        none = s.get_json("/pacs/studies?PatientID=no-such-patient")
        self.assertEqual(none["studies"], [])
        first = s.get_json("/pacs/studies?limit=1")["studies"]
        self.assertEqual([x["study_id"] for x in first], [self.ct_study])
        rest = s.get_json("/pacs/studies?limit=5&offset=1")["studies"]
        self.assertEqual({x["study_id"] for x in rest}, {self.mr_study, self.dx_study})

        # ---- study, series and image metadata from the upstream ----
        study = s.get_json(f"/pacs/studies/{self.mr_study}")
        self.assertEqual(study["source"], "upstream")
        self.assertEqual([x["series_id"] for x in study["series"]], [self.mr_series])
        self.assertEqual(study["series"][0]["image_count"], len(self.mr_files))
        self.assertEqual(study["series"][0]["modality"], "MR")
        images = self.mr_images()
        self.assertEqual(images, sorted(self.mr, key=lambda k: self.mr[k][0]))
        detail = s.get_json(self.series_path())
        self.assertTrue(all(i["source"] == "upstream" for i in detail["images"]))
        first_image = detail["images"][0]
        self.assertEqual(first_image["rows"], self.mr[first_image["image_id"]][1])
        meta = s.get_json(f"{self.series_path()}/images/{images[5]}")
        self.assertEqual(meta["source"], "upstream")
        self.assertEqual(meta["instance_number"], self.mr[images[5]][0])

        status, _, _ = self.get("/pacs/studies/1.2.3.4.5.6.7.8.9")
        self.assertEqual(status, 404)

        # ---- a preview fetches the image (WADO-RS) and keeps it ----
        status, headers, body = self.get(f"{self.series_path()}/images/{images[5]}/preview")
        self.assertEqual(status, 200, body[:200])
        self.assertEqual(headers["content-type"], "image/png")
        self.assertTrue(body.startswith(PNG))
        cached = s.get_json(f"{self.series_path()}/images/{images[5]}")
        self.assertEqual(cached["source"], "local")
        self.assertEqual(cached["size_bytes"], len(read(self.mr_file(images[5]))))
        status, _, body = self.get(f"{self.series_path()}/images/{images[5]}/file")
        self.assertEqual(status, 200)
        self.assertEqual(body, read(self.mr_file(images[5])))
        # The study stays upstream-described (full counts) after one image was fetched.
        again = s.get_json(f"/pacs/studies/{self.mr_study}")
        self.assertEqual(again["image_count"], len(self.mr_files))
        self.assertEqual(len(self.mr_images()), len(self.mr_files))

        # ---- imgpipe's DICOMweb serves the upstream data ----
        status, headers, body = self.get(f"/dicomweb/studies?StudyInstanceUID={self.mr_study}")
        self.assertEqual(status, 200, body[:200])
        found = json.loads(body)
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0]["00201208"]["Value"][0], len(self.mr_files))
        status, _, body = self.get(
            f"/dicomweb/studies/{self.mr_study}/series/{self.mr_series}/instances")
        self.assertEqual(status, 200)
        self.assertEqual(len(json.loads(body)), len(self.mr_files))
        status, headers, body = self.get(
            f"/dicomweb/studies/{self.mr_study}/series/{self.mr_series}/instances/{images[2]}",
            {"Accept": 'multipart/related; type="application/dicom"'})
        self.assertEqual(status, 200, body[:200])
        self.assertTrue(headers["content-type"].startswith("multipart/related"))
        self.assertIn(read(self.mr_file(images[2])), body)

        # ---- jobs on upstream images: image scope, then the whole series ----
        status, _, body = s.request("POST", "/api/provision")
        self.assertEqual(status, 201)
        client = json.loads(body)["client_id"]
        job = self.process({"study_id": self.mr_study, "series_id": self.mr_series,
                            "image_id": images[8], "scope": "image", "client_id": client,
                            "params": {}})
        self.assertEqual(job["status"], "succeeded", job)
        job = self.process({"study_id": self.mr_study, "series_id": self.mr_series,
                            "scope": "series", "client_id": client, "params": {}})
        self.assertEqual(job["status"], "succeeded", job)
        self.assertIn(str(len(self.mr_files)), json.dumps(job))
        # The series job fetched every image.
        detail = s.get_json(self.series_path())
        self.assertTrue(all(i["source"] == "local" for i in detail["images"]), detail)

        # ---- the upstream dies ----
        self.orthanc.kill()
        status, headers, body = self.get(f"{self.series_path()}/images/{images[5]}/preview")
        self.assertEqual(status, 200, body[:200])
        self.assertTrue(body.startswith(PNG))
        dx = f"/pacs/studies/{self.dx_study}/series/{self.dx_series}/images/{self.dx_image}"
        status, _, body = self.get(dx + "/preview")
        self.assertEqual(status, 503, body[:300])
        error = json.loads(body)["error"]
        self.assertEqual(error["code"], "unavailable")
        self.assertIn("upstream PACS", error["message"])
        listing = s.get_json("/pacs/studies")
        ids = {x["study_id"] for x in listing["studies"]}
        self.assertIn(self.ct_study, ids)
        self.assertNotIn(self.dx_study, ids)
        self.assertIn("upstream PACS", listing["warning"])
        status, headers, body = self.get("/dicomweb/studies")
        self.assertEqual(status, 200)
        self.assertIn("warning", headers)
        self.assertIn(self.ct_study, {x["0020000D"]["Value"][0] for x in json.loads(body)})
        # Local studies still served in full.
        self.assertEqual(s.get_json(f"/pacs/studies/{self.ct_study}")["image_count"], 3)

        # ---- automatic processing: only the series that arrived fired the rule ----
        def fired():
            firings = s.get_json("/api/rules/everything/jobs")["firings"]
            return firings if firings else None
        firings = wait_for(fired, "the rule's firing for the local CT series")
        time.sleep(2.5)  # more than quiet_seconds + a pass: a fetched series would have fired
        firings = s.get_json("/api/rules/everything/jobs")["firings"]
        self.assertEqual([f["study_id"] for f in firings], [self.ct_study], firings)

    def mr_file(self, sop):
        for path in self.mr_files:
            if uids(read(path))[2] == sop:
                return path
        raise AssertionError(sop)


if __name__ == "__main__":
    unittest.main(verbosity=2)
