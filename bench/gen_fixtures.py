#!/usr/bin/python3
"""Writes the DICOM files the PACS benchmark uploads (pydicom, stdlib; no numpy).

Usage: gen_fixtures.py OUT_DIR INGEST_COUNT [MALFORMED_DIM]

Layout of OUT_DIR (every file has its own SOP instance UID, and every study its own study UID):
  ct16.dcm             128x128 CT, signed 16-bit, rescale and window tags (explicit VR LE)
  cr12_raw.dcm         1024 rows x 256 columns, 12 bits stored (explicit VR LE); the caller
                       compresses it with `dcmcjpeg +ee` into cr12_jpeg.dcm (JPEG extended, .51)
  qido/NN.dcm          28 studies, one 32x32 MR image each, distinct patients, dates, descriptions
  ingest/NNNNN.dcm     INGEST_COUNT 64x64 16-bit images, each its own study/series/instance
                       (or BENCH_INGEST_SERIES_SIZE images per study and series)
  malformed.dcm        ~4.4 KB, JPEG baseline transfer syntax; Rows/Columns and the JPEG SOF
                       both claim MALFORMED_DIM x MALFORMED_DIM (default 35000: 1.2 GB of 8-bit
                       pixels) but the scan is a few KB of garbage: a decoder that trusts the
                       header allocates and fills the whole frame. (When header and SOF disagree,
                       DCMTK rejects the frame at once, and libjpeg refuses SOFs over 65500.)
  manifest.json        the UIDs of the single images, for building preview URLs
"""

import json
import math
import os
import random
import struct
import sys

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

# A private-looking root under 2.25 (UUID-derived OIDs), so the UIDs are valid and unique.
_RNG = random.Random(20240601)
_UID_PREFIX = "2.25."

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"


def new_uid():
    return _UID_PREFIX + str(_RNG.getrandbits(120))


def base_dataset(sop_class, patient_name, patient_id, study_date, modality, description):
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = new_uid()
    ds.StudyInstanceUID = new_uid()
    ds.SeriesInstanceUID = new_uid()
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.SeriesDate = study_date
    ds.AccessionNumber = patient_id[-8:]
    ds.StudyID = "1"
    ds.StudyDescription = description
    ds.SeriesDescription = description + " series"
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ReferringPhysicianName = ""
    return ds


def set_mono_pixels(ds, rows, cols, bits_stored, signed, pixels):
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = struct.pack("<%d%s" % (len(pixels), "h" if signed else "H"), *pixels)


def save(ds, path, transfer_syntax=ExplicitVRLittleEndian):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = "2.25.1234567890"
    ds.file_meta = meta
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.save_as(path, write_like_original=False)


def ct_image(path):
    """128x128 CT phantom: padding, air, a noisy water disc, a bone ring.

    Stored values are signed: HU + 1024 inside the field of view, -2000 (padding) in the corners,
    with RescaleIntercept -1024, so a renderer must honour both the sign and the rescale."""
    n = 128
    pixels = []
    for y in range(n):
        for x in range(n):
            r = math.hypot(x - n / 2 + 0.5, y - n / 2 + 0.5)
            stored = -2000
            if r < 62:
                stored = -1000 + 1024
            if r < 56:
                hu = 40 + int(20 * math.sin(x / 5.0) * math.cos(y / 7.0)) + _RNG.randint(-15, 15)
                stored = hu + 1024
            if 50 <= r < 56:
                stored = 1200 + 1024
            pixels.append(stored)
    ds = base_dataset(CT_IMAGE_STORAGE, "Bench^CT", "BENCHCT0001", "20240110", "CT",
                      "bench ct 128")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 1.0
    set_mono_pixels(ds, n, n, 16, True, pixels)
    save(ds, path)
    return ds


def cr12_image(path):
    """1024 rows x 256 columns, 12-bit ramp with a sine texture and +-4 noise (0.1% of range)."""
    rows, cols = 1024, 256
    pixels = []
    for y in range(rows):
        for x in range(cols):
            v = 400 + (y * 3000) // rows + int(300 * math.sin(x / 9.0 + y / 23.0))
            v += _RNG.randint(-4, 4)  # mild noise; Orthanc's PNG cost grows fast with noise
            pixels.append(max(0, min(4095, v)))
    ds = base_dataset(CR_IMAGE_STORAGE, "Bench^CR12", "BENCHCR0001", "20240111", "CR",
                      "bench cr 12-bit jpeg")
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    set_mono_pixels(ds, rows, cols, 12, False, pixels)
    save(ds, path)
    return ds


def small_image(path, sop_class, modality, n, name, pid, date, description, seed):
    pixels = [((x * 37 + y * 11 + seed) % 1000) for y in range(n) for x in range(n)]
    ds = base_dataset(sop_class, name, pid, date, modality, description)
    ds.WindowCenter = 500
    ds.WindowWidth = 1000
    set_mono_pixels(ds, n, n, 16, False, pixels)
    save(ds, path)
    return ds


def malformed_jpeg_stream(total_len, sof_dim):
    """SOI, DQT, SOF0 (sof_dim x sof_dim, 1 component), DHT, SOS, a few KB of entropy-coded
    garbage, EOI: the scan ends long before the frame is complete, so a decoder that trusts the
    SOF decodes sof_dim^2 pixels (padding with zeros) into a buffer of that size."""
    out = bytearray(b"\xff\xd8")
    out += b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(1, 65))
    out += b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, sof_dim, sof_dim, 1) + b"\x01\x11\x00"
    # Standard luminance DC table (Annex K.3).
    dc_bits = bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    dc_vals = bytes(range(12))
    out += b"\xff\xc4" + struct.pack(">H", 2 + 1 + 16 + 12) + b"\x00" + dc_bits + dc_vals
    # Standard luminance AC table (Annex K.3).
    ac_bits = bytes([0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D])
    ac_vals = bytes.fromhex(
        "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a"
        "25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a"
        "838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9ca"
        "d2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa")
    out += b"\xff\xc4" + struct.pack(">H", 2 + 1 + 16 + len(ac_vals)) + b"\x10" + ac_bits + ac_vals
    out += b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00" + b"\x00\x3f\x00"
    rng = random.Random(7)
    while len(out) < total_len:
        b = rng.randrange(256)
        out.append(b)
        if b == 0xFF:
            out.append(0x00)  # byte stuffing: stay inside the scan, never a marker
    out = out[:total_len - 2]
    if out[-1] == 0xFF:
        out[-1] = 0x00
    return bytes(out + b"\xff\xd9")


def malformed_image(path, header_dim, sof_dim):
    ds = base_dataset(SC_IMAGE_STORAGE, "Bench^Malformed", "BENCHBAD0001", "20240112", "OT",
                      "bench malformed jpeg")
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = header_dim
    ds.Columns = header_dim
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = encapsulate([malformed_jpeg_stream(3560, sof_dim)])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    save(ds, path, JPEGBaseline8Bit)
    return ds


def uids(ds):
    return {"study": str(ds.StudyInstanceUID), "series": str(ds.SeriesInstanceUID),
            "sop": str(ds.SOPInstanceUID)}


def main():
    out_dir, ingest_count = sys.argv[1], int(sys.argv[2])
    malformed_dim = int(sys.argv[3]) if len(sys.argv) > 3 else 35000
    os.makedirs(os.path.join(out_dir, "qido"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "ingest"), exist_ok=True)
    manifest = {
        "ct16": uids(ct_image(os.path.join(out_dir, "ct16.dcm"))),
        "cr12": uids(cr12_image(os.path.join(out_dir, "cr12_raw.dcm"))),
        "malformed": uids(malformed_image(os.path.join(out_dir, "malformed.dcm"), malformed_dim,
                                         malformed_dim)),
    }
    modalities = ["CT", "MR", "CR", "US", "DX", "PT", "NM"]
    for i in range(28):
        small_image(os.path.join(out_dir, "qido", "%02d.dcm" % i), MR_IMAGE_STORAGE,
                    modalities[i % len(modalities)], 32, "Qido^Patient%02d" % i,
                    "QIDO%04d" % i, "2023%02d%02d" % (1 + i % 12, 1 + i), "qido study %d" % i, i)
    # One template written by pydicom, then only the UIDs and numbers change per file.
    template = small_image(os.path.join(out_dir, "ingest", "00000.dcm"), CT_IMAGE_STORAGE, "CT",
                           64, "Ingest^Patient", "INGEST0000", "20240201", "ingest", 0)
    # BENCH_INGEST_SERIES_SIZE instances share a study and series (1 = every instance its own
    # study and series: the worst case for stores that keep a folder per series).
    series_size = max(1, int(os.environ.get("BENCH_INGEST_SERIES_SIZE", "1")))
    for i in range(1, ingest_count):
        template.SOPInstanceUID = new_uid()
        if i % series_size == 0:
            template.StudyInstanceUID = new_uid()
            template.SeriesInstanceUID = new_uid()
        template.PatientID = "INGEST%04d" % (i % 10000)
        template.InstanceNumber = i
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.save_as(os.path.join(out_dir, "ingest", "%05d.dcm" % i),
                         write_like_original=False)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
