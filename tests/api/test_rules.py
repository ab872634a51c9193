#!/usr/bin/python3
"""Automatic processing rules against a live `imgpipe serve` (rules.file): a matching series fires
its rule once after it goes quiet, the result reaches the subscribed client over the WebSocket and
GET /api/events and not the others; non-matching series, series stored before the rule existed and
a series that grows after its firing fire nothing; a restart fires nothing twice.
Debian python3-pydicom gives the test's series fresh UIDs; python3-websockets is the client."""
import asyncio
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

import pydicom
import websockets
from pydicom.uid import generate_uid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from test_jobs_api import Api, wait_for  # noqa: E402

RULES = {"rules": [{
    "name": "chest-ct", "when": {"Modality": "CT", "BodyPartExamined": "chest"},
    "algorithm": "threshold", "params": {"method": "hu_range", "preset": "lung"},
    "scope": "series", "quiet_seconds": 1}]}


def renamed(files, study=None):
    """The files as a new series (of `study`, or a new study): fresh UIDs, same pixels."""
    study = study or generate_uid()
    series = generate_uid()
    out = []
    for data in files:
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        buf = io.BytesIO()
        ds.save_as(buf)
        out.append(buf.getvalue())
    return study, series, out


class RulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data_dir = tempfile.mkdtemp(prefix="imgpipe-rules-")
        cls.rules_file = os.path.join(cls.data_dir, "rules.json")
        # First without rules: the demo (a CT of the chest among it) predates the rule.
        first = ImgpipeServer("--demo", data_dir=cls.data_dir)
        try:
            api = Api(first)
            cls.demo_study, cls.demo_series, images = api.ct()
            cls.ct_files = [cls.file(first, cls.demo_study, cls.demo_series, i) for i in images[:3]]
            mr = first.get_json("/pacs/studies?ModalitiesInStudy=MR")["studies"][0]["study_id"]
            mr_series = first.get_json(f"/pacs/studies/{mr}")["series"][0]["series_id"]
            mr_images = first.get_json(f"/pacs/studies/{mr}/series/{mr_series}")["images"]
            cls.mr_files = [cls.file(first, mr, mr_series, i["image_id"]) for i in mr_images[:2]]
        finally:
            first.stop()
        with open(cls.rules_file, "w") as f:
            json.dump(RULES, f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.data_dir, ignore_errors=True)

    @staticmethod
    def file(server, study, series, image):
        status, _, data = server.request(
            "GET", f"/pacs/studies/{study}/series/{series}/images/{image}/file")
        assert status == 200, status
        return data

    def start(self):
        server = ImgpipeServer(data_dir=self.data_dir, env={"IMGPIPE_RULES_FILE": self.rules_file})
        return server, Api(server)

    def ingest(self, server, files):
        for data in files:
            status, _, body = server.request("POST", "/pacs/images", body=data, headers={
                **server.admin_headers, "Content-Type": "application/dicom"})
            self.assertIn(status, (200, 201), body)

    def firings(self, server):
        return server.get_json("/api/rules/chest-ct/jobs")["firings"]

    def events(self, server, client):
        return server.get_json(f"/api/events?client_id={client}")["events"]

    def test_a_bad_rules_file_stops_the_start_with_its_reason(self):
        bad = os.path.join(self.data_dir, "bad-rules.json")
        with open(bad, "w") as f:
            json.dump({"rules": [{"name": "lungs", "when": {"Modality": "CT"},
                                  "algorithm": "no_such_algorithm"}]}, f)
        with self.assertRaises(RuntimeError) as raised:
            ImgpipeServer(data_dir=os.path.join(self.data_dir, "bad"),
                          env={"IMGPIPE_RULES_FILE": bad}).cleanup()
        self.assertIn('rule 1 (lungs): unknown algorithm "no_such_algorithm"', str(raised.exception))

    def test_rule_fires_once_for_its_subscribers(self):
        server, api = self.start()
        try:
            self.run_first_life(server, api)
        finally:
            server.stop()
        server, api = self.start()
        try:
            self.run_second_life(server, api)
        finally:
            server.cleanup()

    def run_first_life(self, server, api):
        listed = server.get_json("/api/rules")["rules"]
        self.assertEqual([r["name"] for r in listed], ["chest-ct"])
        self.assertEqual(listed[0]["when"], RULES["rules"][0]["when"])
        self.assertEqual(listed[0]["quiet_seconds"], 1)
        self.assertNotIn("subscribed", listed[0])
        self.subscriber, self.other = api.provision(), api.provision()
        status, _, body = server.request(
            "POST", "/api/rules/chest-ct/subscriptions",
            body=json.dumps({"client_id": self.subscriber}),
            headers={"Content-Type": "application/json"})
        self.assertEqual(status, 201, body)
        mine = server.get_json(f"/api/rules?client_id={self.subscriber}")["rules"][0]
        theirs = server.get_json(f"/api/rules?client_id={self.other}")["rules"][0]
        self.assertTrue(mine["subscribed"])
        self.assertFalse(theirs["subscribed"])
        status, _, _ = server.request("POST", "/api/rules/nope/subscriptions",
                                      body=json.dumps({"client_id": self.subscriber}))
        self.assertEqual(status, 404)
        status, _, _ = server.request("POST", "/api/rules/chest-ct/subscriptions",
                                      body=json.dumps({"client_id": "unknown"}))
        self.assertEqual(status, 401)
        # A subscription undone is no subscription.
        for method, expect in (("POST", 201), ("DELETE", 204)):
            status, _, body = server.request(
                method, f"/api/rules/chest-ct/subscriptions?client_id={self.other}")
            self.assertEqual(status, expect, body)

        self.study, self.series, files = renamed(self.ct_files)
        _, self.mr_series, mr_files = renamed(self.mr_files)

        async def scenario():
            url = f"ws://{server.host}:{server.port}/ws?client_id="
            async with websockets.connect(url + self.subscriber) as ws:
                self.assertEqual(json.loads(await ws.recv())["type"], "hello")
                self.ingest(server, files)
                self.ingest(server, mr_files)
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), 120))
                    if event["type"] == "result":
                        return event
        result = asyncio.run(scenario())
        self.assertEqual(result["status"], "succeeded", result)
        self.assertEqual(result["algorithm"], "threshold")
        self.job = result["job_id"]

        job = server.get_json(f"/api/jobs/{self.job}?client_id={self.subscriber}")
        self.assertEqual(job["series_id"], self.series)
        self.assertEqual(job["scope"], "series")
        self.assertEqual(job["params"]["preset"], "lung")
        status, _, png = server.request(
            "GET", f"{job['outputs']['image']}?client_id={self.subscriber}")
        self.assertEqual(status, 200)
        self.assertEqual(png[:4], b"\x89PNG")
        status, _, _ = server.request("GET", f"/api/jobs/{self.job}?client_id={self.other}")
        self.assertEqual(status, 403)
        status, _, _ = server.request("DELETE", f"/api/jobs/{self.job}?client_id={self.subscriber}")
        self.assertEqual(status, 403)  # a recipient reads, only the owner cancels

        results = [e for e in self.events(server, self.subscriber) if e["type"] == "result"]
        self.assertEqual([e["job_id"] for e in results], [self.job])
        self.assertEqual(self.events(server, self.other), [])

        # One firing: not the demo CT (it predates the rule), not the MR (no match).
        firings = self.firings(server)
        self.assertEqual([(f["series_id"], f["job_id"]) for f in firings], [(self.series, self.job)])

        # The series grows after its firing: no second firing. A second matching series fires, so
        # the engine has looked again after the new instance went quiet.
        _, _, more = renamed(self.ct_files[:1], study=self.study)
        ds = pydicom.dcmread(io.BytesIO(more[0]))
        ds.SeriesInstanceUID = self.series
        buf = io.BytesIO()
        ds.save_as(buf)
        self.ingest(server, [buf.getvalue()])
        _, self.series2, files2 = renamed(self.ct_files[:2])
        self.ingest(server, files2)
        wait_for(lambda: len(self.firings(server)) >= 2, "the second series' firing")
        self.assertEqual(sorted(f["series_id"] for f in self.firings(server)),
                         sorted([self.series, self.series2]))

    def run_second_life(self, server, api):
        # After a restart: the firings are kept and nothing fires twice. A third series firing
        # proves the restarted engine has passed over everything before it.
        _, series3, files3 = renamed(self.ct_files[:1])
        self.ingest(server, files3)
        wait_for(lambda: len(self.firings(server)) >= 3, "the third series' firing")
        firings = self.firings(server)
        self.assertEqual(sorted(f["series_id"] for f in firings),
                         sorted([self.series, self.series2, series3]))
        self.assertNotIn(self.demo_series, [f["series_id"] for f in firings])
        self.assertNotIn(self.mr_series, [f["series_id"] for f in firings])
        jobs = {f["job_id"] for f in firings}
        self.assertEqual(len(jobs), 3)
        for job in jobs:
            wait_for(lambda: server.get_json(f"/api/jobs/{job}?client_id={self.subscriber}")
                     ["status"] == "succeeded", "the rule's job")
        wait_for(lambda: len([e for e in self.events(server, self.subscriber)
                              if e["type"] == "result"]) >= 3, "three results")
        results = [e["job_id"] for e in self.events(server, self.subscriber)
                   if e["type"] == "result"]
        self.assertEqual(sorted(results), sorted(jobs))  # one result per firing, none twice
        self.assertEqual(self.events(server, self.other), [])


if __name__ == "__main__":
    unittest.main()
