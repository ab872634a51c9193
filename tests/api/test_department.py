"""Issue 10 end to end, as a radiology department would see it: a modality (DCMTK's storescu) sends
a CT CHEST series to imgpipe's DICOM listener; an automatic processing rule ("CT CHEST: lung
segmentation") fires once the series is quiet; its result reaches the browser that subscribed to
the rule over the WebSocket; the Secondary Capture series and the DICOM SEG go back to the PACS (a
real Orthanc in its own network namespace) by C-STORE, where a QIDO query finds them, the SEG
referencing the CT series.

Needs root (the namespace), Debian dcmtk, orthanc + orthanc-dicomweb, python3-websockets."""
import asyncio
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import pydicom  # Debian python3-pydicom
import websockets  # Debian python3-websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from orthanc import Orthanc  # noqa: E402

AET = "IMGPIPE"
RULE = "chest-ct-lung"


def wait_for(fn, what, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


class DepartmentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="imgpipe-department-")
        bin_path = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
        subprocess.run([bin_path, "demo", "--out", cls.work + "/demo"], check=True,
                       capture_output=True)
        cls.ct_files = sorted(glob.glob(cls.work + "/demo/ct/*.dcm"))
        first = pydicom.dcmread(cls.ct_files[0], stop_before_pixels=True)
        cls.study, cls.series = first.StudyInstanceUID, first.SeriesInstanceUID
        cls.orthanc = Orthanc()
        try:
            with open(cls.work + "/destinations.json", "w") as f:
                json.dump({"destinations": [
                    {"name": "pacs", "type": "dicom", "host": cls.orthanc.ip,
                     "port": cls.orthanc.dicom_port, "called_aet": cls.orthanc.aet,
                     "calling_aet": AET}]}, f)
            with open(cls.work + "/rules.json", "w") as f:
                json.dump({"rules": [
                    {"name": RULE, "when": {"Modality": "CT", "BodyPartExamined": "CHEST"},
                     "algorithm": "threshold",
                     "params": {"method": "hu_range", "preset": "lung"},
                     "scope": "series", "quiet_seconds": 2, "export": ["pacs"]},
                    {"name": "head-mr", "when": {"Modality": "MR", "BodyPartExamined": "HEAD"},
                     "algorithm": "window_level", "scope": "series", "quiet_seconds": 2}]}, f)
            cls.server = ImgpipeServer(
                "--dicom-listen", "127.0.0.1:0", "--aet", AET,
                env={"IMGPIPE_EXPORT_DESTINATIONS_FILE": cls.work + "/destinations.json",
                     "IMGPIPE_RULES_FILE": cls.work + "/rules.json"})
        except Exception:
            cls.orthanc.stop()
            raise
        line = wait_for(lambda: next((s for s in cls.server.stdout_lines
                                      if s.startswith("dicom listening")), None),
                        "the 'dicom listening' line", 30)
        # "dicom listening on HOST:PORT as AE TITLE"
        cls.dicom_port = int(line.split()[3].rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.orthanc.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def provision(self):
        status, _, body = self.server.request("POST", "/api/provision")
        self.assertEqual(status, 201)
        return json.loads(body)["client_id"]

    def test_modality_to_rule_to_browser_to_pacs(self):
        s = self.server
        radiologist, bystander = self.provision(), self.provision()
        status, _, body = s.request(
            "POST", f"/api/rules/{RULE}/subscriptions",
            json.dumps({"client_id": radiologist}).encode(),
            {"Content-Type": "application/json"})
        self.assertEqual(status, 201, body)
        rules = s.get_json(f"/api/rules?client_id={radiologist}")["rules"]
        self.assertEqual({r["name"]: r["subscribed"] for r in rules},
                         {RULE: True, "head-mr": False})

        async def scenario():
            url = f"ws://{s.host}:{s.port}/ws?client_id={radiologist}"
            async with websockets.connect(url) as ws:
                self.assertEqual(json.loads(await ws.recv())["type"], "hello")
                # The modality sends the whole series in one association.
                sent = await asyncio.to_thread(
                    subprocess.run,
                    ["storescu", "-aet", "CT_SCANNER", "-aec", AET, "127.0.0.1",
                     str(self.dicom_port), *self.ct_files],
                    capture_output=True, text=True, timeout=120)
                self.assertEqual(sent.returncode, 0, sent.stderr[-2000:])
                result, export = None, None
                while result is None or export is None:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 180))
                    if event["type"] == "result":
                        result = event
                    elif event["type"] == "export":
                        export = event
                return result, export

        result, export = asyncio.run(scenario())
        self.assertEqual(result["status"], "succeeded", result)
        self.assertIn("seg", result["outputs"])
        self.assertEqual(export["destination"], "pacs")
        self.assertEqual(export["status"], "sent", export)
        job_id = result["job_id"]

        # The rule fired once, for the CT series, and the subscriber may read the job.
        firings = s.get_json(f"/api/rules/{RULE}/jobs")["firings"]
        self.assertEqual([(f["series_id"], f["job_id"]) for f in firings],
                         [(self.series, job_id)])
        job = s.get_json(f"/api/jobs/{job_id}?client_id={radiologist}")
        self.assertEqual(job["series_id"], self.series)
        self.assertEqual(job["progress_total"] if "progress_total" in job
                         else job["progress"]["total"], len(self.ct_files))
        self.assertEqual([(e["destination"], e["status"]) for e in job["exports"]],
                         [("pacs", "sent")])
        # 30 Secondary Capture images + 1 SEG.
        self.assertEqual(job["exports"][0]["sent"], len(self.ct_files) + 1)
        status, _, _ = s.request("GET", f"/api/jobs/{job_id}?client_id={bystander}")
        self.assertEqual(status, 403)
        self.assertEqual(s.get_json(f"/api/events?client_id={bystander}&after=0")["events"], [])

        # The PACS holds the results: QIDO finds the SEG and the derived series (Secondary Capture
        # images keep the source's modality) in the CT's study, and nothing else: imgpipe never
        # sent the CT itself.
        series = self.orthanc.qido(f"/studies/{self.study}/series")
        by_modality = {}
        for entry in series:
            modality = entry["00080060"]["Value"][0]
            by_modality.setdefault(modality, []).append(entry["0020000E"]["Value"][0])
        self.assertEqual(sorted(by_modality), ["CT", "SEG"], series)
        self.assertNotEqual(by_modality["CT"], [self.series])
        seg_series = by_modality["SEG"][0]
        instances = self.orthanc.qido(f"/studies/{self.study}/series/{seg_series}/instances")
        self.assertEqual(len(instances), 1)
        sc_instances = self.orthanc.qido(
            f"/studies/{self.study}/series/{by_modality['CT'][0]}/instances")
        self.assertEqual(len(sc_instances), len(self.ct_files))
        seg_uid = instances[0]["00080018"]["Value"][0]
        status, body = self.orthanc.rest(
            "GET", f"/dicom-web/studies/{self.study}/series/{seg_series}/instances/{seg_uid}"
                   "/metadata")
        self.assertEqual(status, 200)
        meta = json.loads(body)[0]
        self.assertEqual(meta["00080016"]["Value"][0], "1.2.840.10008.5.1.4.1.1.66.4")
        self.assertEqual(meta["00280008"]["Value"][0], len(self.ct_files))  # frames
        referenced = meta["00081115"]["Value"][0]["0020000E"]["Value"][0]
        self.assertEqual(referenced, self.series)

        # An MR HEAD series arriving later fires its own rule; nobody subscribed, so the
        # radiologist gets nothing more, and the CT rule does not fire again.
        mr_files = sorted(glob.glob(self.work + "/demo/mr/*.dcm"))
        sent = subprocess.run(["storescu", "-aec", AET, "127.0.0.1", str(self.dicom_port),
                               *mr_files], capture_output=True, text=True, timeout=120)
        self.assertEqual(sent.returncode, 0, sent.stderr[-2000:])
        wait_for(lambda: s.get_json("/api/rules/head-mr/jobs")["firings"], "the MR rule")
        events = s.get_json(f"/api/events?client_id={radiologist}&after=0")["events"]
        self.assertEqual({e["job_id"] for e in events}, {job_id}, events)
        self.assertEqual(len(s.get_json(f"/api/rules/{RULE}/jobs")["firings"]), 1)


if __name__ == "__main__":
    unittest.main()
