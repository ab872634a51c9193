#!/usr/bin/python3
"""A stand-in for the imgpipe binary, to check the harness's imgpipe half without imgpipe.

It speaks only the slice of DESIGN.md's contract that pacs_vs_orthanc.sh uses and measures
nothing of interest (previews are a fixed tiny PNG):
  mock_imgpipe.py serve --listen 127.0.0.1:0 --data-dir DIR
  POST /pacs/images (application/dicom) -> 201, or 422 when Rows*Columns > 50e6
  GET  /pacs/studies/{s}/series/{se}/images/{i}/preview -> image/png, 404 when unknown
  GET  /dicomweb/studies -> JSON array, one object per study
Run: IMGPIPE_BIN=bench/selftest/mock_imgpipe.py bench/pacs_vs_orthanc.sh
"""

import io
import json
import os
import re
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydicom

_LOCK = threading.Lock()
_IMAGES = {}  # (study, series, sop) -> data dir path
_STUDIES = {}  # study uid -> patient name


def _png_1x1():
    def chunk(kind, data):
        body = kind + data
        return (len(data).to_bytes(4, "big") + body +
                (zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big"))
    ihdr = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))


_PNG = _png_1x1()
_PREVIEW = re.compile(r"^/pacs/studies/([^/]+)/series/([^/]+)/images/([^/]+)/preview$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    data_dir = "."

    def log_message(self, *args):
        pass

    def _send(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code, what):
        self._send(code, json.dumps({"error": {"code": what, "message": what}}).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/pacs/images":
            return self._error(404, "not_found")
        try:
            ds = pydicom.dcmread(io.BytesIO(body), stop_before_pixels=True)
            key = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
            if int(ds.Rows) * int(ds.Columns) > 50_000_000:
                return self._error(422, "image_too_large")
        except Exception:  # any parse failure is the client's fault here
            return self._error(400, "invalid_dicom")
        path = os.path.join(self.data_dir, key[2] + ".dcm")
        with open(path, "wb") as f:
            f.write(body)
        with _LOCK:
            _IMAGES[key] = path
            _STUDIES[key[0]] = str(ds.get("PatientName", ""))
        self._send(201, json.dumps({"study_id": key[0], "series_id": key[1],
                                    "image_id": key[2]}).encode())

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        m = _PREVIEW.match(path)
        if m:
            with _LOCK:
                known = m.groups() in _IMAGES
            return self._send(200, _PNG, "image/png") if known else self._error(404, "not_found")
        if path == "/dicomweb/studies":
            with _LOCK:
                studies = [{"0020000D": {"vr": "UI", "Value": [s]},
                            "00100010": {"vr": "PN", "Value": [{"Alphabetic": n}]}}
                           for s, n in _STUDIES.items()]
            return self._send(200, json.dumps(studies).encode(), "application/dicom+json")
        return self._error(404, "not_found")


def main():
    args = sys.argv[1:]
    if not args or args[0] != "serve":
        sys.exit("mock_imgpipe: only 'serve' is implemented")
    listen, data_dir = "127.0.0.1:0", "."
    for i, a in enumerate(args):
        if a == "--listen":
            listen = args[i + 1]
        elif a == "--data-dir":
            data_dir = args[i + 1]
    os.makedirs(data_dir, exist_ok=True)
    Handler.data_dir = data_dir
    # Images already in the data dir survive a restart, as the contract promises.
    for name in os.listdir(data_dir):
        if name.endswith(".dcm"):
            ds = pydicom.dcmread(os.path.join(data_dir, name), stop_before_pixels=True)
            _IMAGES[(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                     str(ds.SOPInstanceUID))] = os.path.join(data_dir, name)
            _STUDIES[str(ds.StudyInstanceUID)] = str(ds.get("PatientName", ""))
    host, port = listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    print("listening on http://%s:%d" % server.server_address[:2], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
