"""Writes a new series to stdout as a multipart/related body: COUNT 16-bit CT slices of the chest
made with pydicom (an encoder independent of imgpipe), fresh UIDs, Modality and BodyPartExamined
from the arguments. Used by the automatic processing end-to-end test.
Usage: make_series.py MODALITY BODY_PART COUNT BOUNDARY"""
import io
import sys

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

modality, body_part, count, boundary = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
study, series = generate_uid(), generate_uid()
out = io.BytesIO()
for n in range(1, count + 1):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientID = "RULES-0001"
    ds.PatientName = "RULES^TEST"
    ds.Modality = modality
    ds.BodyPartExamined = body_part
    ds.SeriesDescription = "e2e rules series"
    ds.InstanceNumber = n
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    pixels = np.full((64, 64), -1000, dtype=np.int16)
    pixels[16:48, 16:48] = -700  # lung-like
    pixels[28:36, 28:36] = 40
    ds.PixelData = pixels.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, write_like_original=False)
    out.write(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
    out.write(buf.getvalue())
    out.write(b"\r\n")
out.write(f"--{boundary}--\r\n".encode())
sys.stdout.buffer.write(out.getvalue())
