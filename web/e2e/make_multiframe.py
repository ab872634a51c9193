"""Writes a 3-frame 16-bit CT-like DICOM file to stdout, made with pydicom (an encoder
independent of imgpipe): frame n is a square of value n*1000 HU on -1000 HU, so each frame
renders differently. Used by the frame-navigation end-to-end test."""
import io
import sys

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

meta = FileMetaDataset()
meta.MediaStorageSOPClassUID = CTImageStorage
meta.MediaStorageSOPInstanceUID = generate_uid()
meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
ds.SOPClassUID = CTImageStorage
ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
ds.StudyInstanceUID = generate_uid()
ds.SeriesInstanceUID = generate_uid()
ds.PatientID = "MF-0001"
ds.PatientName = "FRAMES^MULTI"
ds.StudyDate = "20240401"
ds.StudyDescription = "MULTIFRAME TEST"
ds.Modality = "CT"
ds.InstanceNumber = 1
ds.SamplesPerPixel = 1
ds.PhotometricInterpretation = "MONOCHROME2"
ds.Rows = ds.Columns = 64
ds.NumberOfFrames = 3
ds.BitsAllocated = ds.BitsStored = 16
ds.HighBit = 15
ds.PixelRepresentation = 1
ds.RescaleSlope = 1
ds.RescaleIntercept = 0
frames = np.full((3, 64, 64), -1000, dtype=np.int16)
for n in range(3):
    frames[n, 16:48, 16:48] = (n + 1) * 1000
ds.PixelData = frames.tobytes()
out = io.BytesIO()
ds.save_as(out, write_like_original=False)
sys.stdout.buffer.write(out.getvalue())
