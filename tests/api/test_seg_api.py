#!/usr/bin/python3
"""DICOM SEG outputs of segmentation jobs through a live `imgpipe serve` (--demo data), read with
pydicom (Debian python3-pydicom, an independent reader that unpacks the 1-bit frames with numpy):
an image job's one-frame SEG, a series job's multi-frame SEG referencing every image in instance
order, a study job's SEG per series, and no SEG for algorithms without a mask."""
import json
import os
import struct
import sys
import unittest
import zlib

import numpy  # Debian python3-numpy, pulled in by python3-pydicom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402
from test_jobs_api import Api, dicom_of  # noqa: E402

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def png_grey8(data):
    """Pixels of an 8-bit greyscale, non-interlaced PNG (what the worker writes for masks)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert (depth, colour, interlace) == (8, 0, 0), (depth, colour, interlace)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    rows, prev = [], bytearray(width)
    for y in range(height):
        line = raw[y * (width + 1):(y + 1) * (width + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for x in range(width):
            a = cur[x - 1] if x else 0
            b = prev[x]
            c = prev[x - 1] if x else 0
            if kind == 1:
                cur[x] = (cur[x] + a) & 0xFF
            elif kind == 2:
                cur[x] = (cur[x] + b) & 0xFF
            elif kind == 3:
                cur[x] = (cur[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (cur[x] + pred) & 0xFF
        rows.append(bytes(cur))
        prev = cur
    return numpy.frombuffer(b"".join(rows), dtype=numpy.uint8).reshape(height, width)


class SegOutputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ImgpipeServer("--demo")
        cls.api = Api(cls.server)
        cls.client = cls.api.provision()
        cls.study, cls.series, cls.images = cls.api.ct()
        cls.image = cls.images[len(cls.images) // 2]

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def run_job(self, algorithm, scope, params):
        body = {"study_id": self.study, "scope": scope, "client_id": self.client, "params": params}
        if scope != "study":
            body["series_id"] = self.series
        if scope == "image":
            body["image_id"] = self.image
        status, _, reply = self.api.process(algorithm, body)
        self.assertEqual(status, 202, reply)
        job = self.api.wait_terminal(reply["job_id"], self.client)
        self.assertEqual(job["status"], "succeeded", job)
        return job

    def get(self, url):
        hdrs, data = self.api.result(url, self.client)
        return hdrs, data

    def seg_of(self, job, name="seg"):
        url = job["outputs"][name]
        self.assertEqual(url, f"/api/results/{job['job_id']}/{name}.dcm")
        hdrs, data = self.get(url)
        self.assertEqual(hdrs["content-type"], "application/dicom")
        ds = dicom_of(data)
        self.assertEqual(ds.file_meta.MediaStorageSOPClassUID, SEG_CLASS)
        self.assertEqual(ds.SOPClassUID, SEG_CLASS)
        self.assertEqual(ds.Modality, "SEG")
        self.assertEqual(ds.StudyInstanceUID, self.study)
        self.assertNotEqual(ds.SeriesInstanceUID, self.series)
        self.assertEqual(ds.BitsAllocated, 1)
        self.assertEqual(ds.SegmentationType, "BINARY")
        self.assertEqual(len(ds.SegmentSequence), 1)
        self.assertEqual(ds.SegmentSequence[0].SegmentAlgorithmType, "AUTOMATIC")
        self.assertEqual(ds.SegmentSequence[0].SegmentAlgorithmName, "threshold")
        return ds

    def assert_frames(self, ds, images, masks):
        """Frames, references and pixels: frame i is images[i] with masks[i] (0/255)."""
        self.assertEqual(int(ds.NumberOfFrames), len(images))
        refs = ds.ReferencedSeriesSequence
        self.assertEqual([r.SeriesInstanceUID for r in refs], [self.series])
        self.assertEqual([i.ReferencedSOPInstanceUID for i in refs[0].ReferencedInstanceSequence],
                         images)
        sources = [f.DerivationImageSequence[0].SourceImageSequence[0]
                   for f in ds.PerFrameFunctionalGroupsSequence]
        self.assertEqual([s.ReferencedSOPInstanceUID for s in sources], images)
        for s in sources:
            self.assertEqual(s.PurposeOfReferenceCodeSequence[0].CodeValue, "121322")
        pixels = ds.pixel_array.reshape(len(images), ds.Rows, ds.Columns)
        for i, mask in enumerate(masks):
            self.assertTrue(mask.any(), f"frame {i + 1}: an empty mask proves little")
            self.assertTrue(numpy.array_equal(pixels[i], (mask > 0).astype(pixels.dtype)),
                            f"frame {i + 1}")

    def test_image_job_writes_a_one_frame_seg(self):
        job = self.run_job("threshold", "image", {"method": "hu_range", "preset": "bone"})
        ds = self.seg_of(job)
        _, png = self.get(job["outputs"]["mask"])
        self.assert_frames(ds, [self.image], [png_grey8(png)])
        segment = ds.SegmentSequence[0]
        self.assertEqual(segment.SegmentLabel, "Bone")
        self.assertEqual(segment.SegmentedPropertyTypeCodeSequence[0].CodeValue, "272673000")
        self.assertEqual(segment.SegmentedPropertyCategoryCodeSequence[0].CodeValue, "85756007")
        _, result = self.get(job["outputs"]["dicom"])
        self.assertNotEqual(dicom_of(result).SeriesInstanceUID, ds.SeriesInstanceUID)

    def test_series_job_writes_one_seg_for_the_series(self):
        job = self.run_job("threshold", "series", {"method": "otsu"})
        ds = self.seg_of(job)
        _, manifest = self.get(job["outputs"]["manifest"])
        manifest = json.loads(manifest)
        entries = manifest["images"]
        self.assertEqual([e["image_id"] for e in entries], self.images)
        self.assertNotIn("seg", entries[0])  # per image: the outputs as before, no SEG
        self.assertEqual(manifest["segmentations"],
                         [{"name": "seg", "series_id": self.series, "seg": job["outputs"]["seg"],
                           "frames": len(self.images)}])
        masks = [png_grey8(self.get(e["mask"])[1]) for e in entries]
        self.assert_frames(ds, self.images, masks)
        self.assertEqual(ds.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue,
                         "85756007")

    def test_study_job_writes_a_seg_per_series(self):
        job = self.run_job("threshold", "study", {"method": "otsu"})
        _, manifest = self.get(job["outputs"]["manifest"])
        segs = json.loads(manifest)["segmentations"]
        study = self.server.get_json(f"/pacs/studies/{self.study}")
        self.assertEqual(len(segs), len(study["series"]))
        self.assertEqual([s["name"] for s in segs], [f"seg-{k + 1}" for k in range(len(segs))])
        self.assertNotIn("seg", job["outputs"])
        ct = [s for s in segs if s["series_id"] == self.series][0]
        self.assertEqual(job["outputs"][ct["name"]], ct["seg"])
        ds = self.seg_of(job, ct["name"])
        self.assertEqual(int(ds.NumberOfFrames), len(self.images))
        self.assertEqual([f.DerivationImageSequence[0].SourceImageSequence[0]
                          .ReferencedSOPInstanceUID for f in ds.PerFrameFunctionalGroupsSequence],
                         self.images)

    def test_no_seg_without_a_mask(self):
        job = self.run_job("window_level", "image", {})
        self.assertNotIn("seg", job["outputs"])
        self.assertIn("dicom", job["outputs"])


if __name__ == "__main__":
    unittest.main()
