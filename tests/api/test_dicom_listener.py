"""The DICOM listener of a live `imgpipe serve --dicom-listen`, driven by DCMTK's own clients
(echoscu, storescu, findscu: independent implementations) and by raw malformed traffic."""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import ImgpipeServer  # noqa: E402

BIN = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
WORK = tempfile.mkdtemp(prefix="imgpipe-dicom-listener-")
DEMO_DIR = os.path.join(WORK, "demo")
AET = "IMGPIPE"
# The calling AE titles DCMTK's tools use by default, and the one the raw tests use.
ALLOWED = "ECHOSCU,STORESCU,FINDSCU,RAWSCU"


def run(args, timeout=120):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def uids(path):
    """(study, series, instance) UIDs of a DICOM file, read with dcmdump."""
    out = run(["dcmdump", "-s", "+P", "0020,000d", "+P", "0020,000e", "+P", "0008,0018", path])
    values = re.findall(r"\[([0-9.]+)\]", out.stdout)
    assert len(values) >= 3, out.stdout + out.stderr
    return values[0], values[1], values[2]


def series_files(subdir):
    folder = os.path.join(DEMO_DIR, subdir)
    return sorted(os.path.join(folder, n) for n in os.listdir(folder))


def associate_rq(called, calling, pc_id=1, abstract="1.2.840.10008.1.1"):
    """An A-ASSOCIATE-RQ PDU proposing one presentation context (implicit VR little endian)."""
    def item(kind, payload):
        return struct.pack(">BBH", kind, 0, len(payload)) + payload
    pc = item(0x20, bytes([pc_id, 0, 0, 0]) + item(0x30, abstract.encode())
              + item(0x40, b"1.2.840.10008.1.2"))
    user = item(0x50, item(0x51, struct.pack(">I", 16384)))
    body = (struct.pack(">HH", 1, 0) + called.ljust(16).encode() + calling.ljust(16).encode()
            + bytes(32) + item(0x10, b"1.2.840.10008.3.1.1.1") + pc + user)
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def read_pdu_type(sock):
    head = sock.recv(6)
    return head[0] if head else None


class DicomListenerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        out = run([BIN, "demo", "--out", DEMO_DIR])
        assert out.returncode == 0, out.stderr
        cls.server = ImgpipeServer("--dicom-listen", "127.0.0.1:0", "--aet", AET,
                                   env={"IMGPIPE_DICOM_ALLOWED_AETS": ALLOWED})
        deadline = time.time() + 30
        line = None
        while time.time() < deadline and line is None:
            line = next((s for s in cls.server.stdout_lines if s.startswith("dicom listening")),
                        None)
            time.sleep(0.05)
        assert line, f"no 'dicom listening' line: {cls.server.stdout_lines}"
        # "dicom listening on HOST:PORT as AE TITLE"
        words = line.split()
        cls.dicom_port = int(words[3].rsplit(":", 1)[1])
        assert words[-1] == AET, line
        # The whole CT series at once, on one association (-R: each file's own SOP class and
        # transfer syntax only).
        cls.ct = series_files("ct")
        cls.store_ct = run(["storescu", "-R", "-aec", AET, "127.0.0.1", str(cls.dicom_port),
                            *cls.ct], timeout=300)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(WORK, ignore_errors=True)

    def echo(self, *extra):
        return run(["echoscu", *extra, "127.0.0.1", str(self.dicom_port)], timeout=60)

    def find(self, level, *keys):
        args = ["findscu", "-v", "-S", "-aec", AET, "-k", f"QueryRetrieveLevel={level}"]
        for k in keys:
            args += ["-k", k]
        out = run(args + ["127.0.0.1", str(self.dicom_port)], timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out.stdout + out.stderr

    def assert_alive(self):
        out = self.echo("-aec", AET)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        status, _, _ = self.server.request("GET", "/healthz")
        self.assertEqual(status, 200)

    def test_echo(self):
        self.assert_alive()

    def test_whole_series_arrives(self):
        self.assertEqual(self.store_ct.returncode, 0, self.store_ct.stdout + self.store_ct.stderr)
        self.assertGreaterEqual(len(self.ct), 20)
        study, series, _ = uids(self.ct[0])
        body = self.server.get_json(f"/pacs/studies/{study}/series/{series}")
        self.assertEqual(len(body["images"]), len(self.ct))
        expected = {uids(f)[2] for f in self.ct}
        self.assertEqual({i["image_id"] for i in body["images"]}, expected)
        study_body = self.server.get_json(f"/pacs/studies/{study}")
        self.assertEqual(study_body["image_count"], len(self.ct))
        self.assertEqual(study_body["series_count"], 1)

    def test_transfer_syntaxes_arrive_and_render(self):
        source = series_files("mr")[0]
        # name: (tool making it, the storescu option that proposes its syntax: storescu offers a
        # compressed syntax only when told)
        variants = {
            "implicit": (["dcmconv", "+ti"], "-xi"),
            "big-endian": (["dcmconv", "+tb"], "-xb"),
            "deflated": (["dcmconv", "+td"], "-xd"),
            "jpeg-lossless": (["dcmcjpeg"], "-xs"),
            "jpeg-ls": (["dcmcjpls"], "-xt"),
            "rle": (["dcmcrle"], "-xr"),
        }
        made = []
        for name, (tool, option) in variants.items():
            path = os.path.join(WORK, f"mr-{name}.dcm")
            out = run(tool + [source, path])
            self.assertEqual(out.returncode, 0, f"{name}: {out.stderr}")
            # A new SOP instance UID, so each variant is a new instance (not a re-send).
            out = run(["dcmodify", "-nb", "-gin", path])
            self.assertEqual(out.returncode, 0, f"{name}: {out.stderr}")
            out = run(["storescu", "-R", option, "-aec", AET, "127.0.0.1", str(self.dicom_port),
                       path])
            self.assertEqual(out.returncode, 0, f"{name}: {out.stdout} {out.stderr}")
            made.append(path)
        for path in made:
            study, series, image = uids(path)
            base = f"/pacs/studies/{study}/series/{series}/images/{image}"
            self.server.get_json(base)
            status, headers, data = self.server.request("GET", base + "/preview")
            self.assertEqual(status, 200, f"{path}: {data[:200]!r}")
            self.assertTrue(data.startswith(b"\x89PNG"), path)
            # Stored as received: the file served back is in the transfer syntax that was sent.
            status, _, stored = self.server.request("GET", base + "/file")
            self.assertEqual(status, 200)
            with open(path, "rb") as f:
                sent_ts = re.search(rb"1\.2\.840\.10008\.1\.2[0-9.]*", f.read(1024)).group(0)
            self.assertIn(sent_ts, stored[:1024], path)

    def test_find_study_series_image(self):
        self.assertEqual(self.store_ct.returncode, 0)
        study, series, _ = uids(self.ct[0])
        out = self.find("STUDY", "StudyInstanceUID", "PatientID", "NumberOfStudyRelatedInstances")
        self.assertIn(study, out)
        out = self.find("STUDY", f"StudyInstanceUID={study}", "NumberOfStudyRelatedInstances")
        self.assertIn(f"[{len(self.ct)}]", out)
        out = self.find("SERIES", f"StudyInstanceUID={study}", "SeriesInstanceUID", "Modality")
        self.assertIn(series, out)
        self.assertIn("[CT]", out)
        out = self.find("IMAGE", f"StudyInstanceUID={study}", f"SeriesInstanceUID={series}",
                        "SOPInstanceUID")
        found = set(re.findall(r"\(0008,0018\) UI \[([0-9.]+)\x00?\]", out))
        self.assertEqual(found, {uids(f)[2] for f in self.ct})
        # No match: a patient id that does not exist.
        out = self.find("STUDY", "StudyInstanceUID", "PatientID=NOBODY*")
        self.assertNotIn(study, out)

    def test_malformed_associations_leave_it_serving(self):
        # Raw garbage.
        with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=10) as s:
            # The listener may reject the first bytes and reset the connection before the rest
            # is sent or the write side is shut (ENOTCONN, EPIPE, ECONNRESET): that is a valid
            # answer to garbage. What matters is that it keeps serving.
            try:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(512))
                s.shutdown(socket.SHUT_WR)
                s.settimeout(10)
                while s.recv(4096):
                    pass
            except OSError:
                pass
        self.assert_alive()
        # A wrong called AE title is rejected (A-ASSOCIATE-RJ), by DCMTK's echoscu and raw.
        out = self.echo("-aec", "NOT_US")
        self.assertNotEqual(out.returncode, 0)
        with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=10) as s:
            s.sendall(associate_rq("NOT_US", "RAWSCU"))
            self.assertEqual(read_pdu_type(s), 0x03)  # A-ASSOCIATE-RJ
        # An A-ABORT in the middle of a C-STORE: the association is accepted, half a command
        # fragment is sent, then the peer aborts; and one where the peer just vanishes.
        for finish in ("abort", "vanish"):
            with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=10) as s:
                s.sendall(associate_rq(AET, "RAWSCU", abstract="1.2.840.10008.5.1.4.1.1.2"))
                self.assertEqual(read_pdu_type(s), 0x02)  # A-ASSOCIATE-AC
                s.recv(65536)
                fragment = b"\x00\x00\x00\x00\x04\x00\x00\x00"  # a command set cut short
                pdv = struct.pack(">IBB", len(fragment) + 2, 1, 0x01) + fragment
                s.sendall(struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv)
                if finish == "abort":
                    s.sendall(struct.pack(">BBIBBBB", 0x07, 0, 4, 0, 0, 0, 0))
            self.assert_alive()
        # storescu killed while sending a large file.
        big = os.path.join(WORK, "big.dcm")
        self.make_big_file(big)
        proc = subprocess.Popen(["storescu", "-R", "-aec", AET, "127.0.0.1",
                                 str(self.dicom_port), big],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        proc.kill()
        proc.wait()
        self.assert_alive()

    def make_big_file(self, path):
        """A ~100 MB instance in a study of its own (a demo CT slice, 100 MB of pixel data)."""
        blob = os.path.join(WORK, "blob.bin")
        with open(blob, "wb") as f:
            f.write(os.urandom(1 << 20) * 100)
        shutil.copy(self.ct[0], path)
        out = run(["dcmodify", "-nb", "-gst", "-gse", "-gin", "-if", f"PixelData={blob}", path])
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_calling_ae_not_allowed_is_rejected(self):
        out = self.echo("-aet", "INTRUDER", "-aec", AET)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("Rejected", out.stdout + out.stderr)
        out = run(["storescu", "-R", "-aet", "INTRUDER", "-aec", AET, "127.0.0.1",
                   str(self.dicom_port), series_files("mr")[1]])
        self.assertNotEqual(out.returncode, 0)
        self.assert_alive()

    def test_metrics_count_the_traffic(self):
        self.test_calling_ae_not_allowed_is_rejected()
        status, _, body = self.server.request("GET", "/metrics",
                                              headers=self.server.admin_headers)
        self.assertEqual(status, 200)
        text = body.decode()
        self.assertRegex(text, r'imgpipe_dimse_associations_total\{result="rejected"\} [1-9]')
        self.assertRegex(text, r'imgpipe_dimse_instances_total\{result="stored"\} [1-9]')


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"{result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
