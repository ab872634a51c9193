#!/usr/bin/python3
"""Reads a DICOM Part 10 file with pydicom (an independent reader, for the dicom tests) and prints
one JSON object:
  meta: {MediaStorageSOPInstanceUID, MediaStorageSOPClassUID, TransferSyntaxUID}
  pixel_sha256: hex SHA-256 of the raw Pixel Data value (absent without pixel data)
  bits: for BitsAllocated 1 only, pydicom's unpacking (pixel_array, numpy):
        {"shape": [...], "frames": ["0/1 digits of each frame, row by row", ...]}
  values: {"gggg,eeee" or "gggg,eeee[i].gggg,eeee...": str(value)} for every element at any
          depth except Pixel Data, so a test can search every value and check nested ones.
Reading is strict: invalid values raise, and the exit status is non-zero.
"""
import hashlib
import json
import sys

import pydicom
from pydicom import config

config.settings.reading_validation_mode = config.RAISE


def walk(ds, prefix, out):
    for elem in ds:
        key = prefix + "%04x,%04x" % (elem.tag.group, elem.tag.element)
        if elem.tag == 0x7FE00010:
            continue
        if elem.VR == "SQ":
            out[key] = "SQ:%d" % len(elem.value)
            for i, item in enumerate(elem.value):
                walk(item, "%s[%d]." % (key, i), out)
        elif isinstance(elem.value, bytes):
            out[key] = elem.value.hex()
        else:
            out[key] = str(elem.value)


def main():
    ds = pydicom.dcmread(sys.argv[1])
    meta = ds.file_meta
    result = {
        "meta": {
            "MediaStorageSOPInstanceUID": str(meta.MediaStorageSOPInstanceUID),
            "MediaStorageSOPClassUID": str(meta.MediaStorageSOPClassUID),
            "TransferSyntaxUID": str(meta.TransferSyntaxUID),
        },
        "values": {},
    }
    if "PixelData" in ds:
        result["pixel_sha256"] = hashlib.sha256(ds.PixelData).hexdigest()
        if ds.get("BitsAllocated") == 1:
            array = ds.pixel_array
            frames = array.reshape((-1, int(ds.Rows) * int(ds.Columns)))
            result["bits"] = {
                "shape": list(array.shape),
                "frames": ["".join(str(int(v)) for v in frame) for frame in frames],
            }
    walk(ds, "", result["values"])
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
