"""A throwaway Orthanc (Debian orthanc 1.10 + orthanc-dicomweb) for integration tests: a real,
independent PACS with a DICOM port and DICOMweb, run in its own network namespace.

The namespace is joined to the host by a veth pair on a private /30 (10.231.X.Y), so imgpipe on
the host reaches Orthanc at `orthanc.ip` and nothing leaves the machine. Needs root (`ip netns`):
CI runs as root. Everything the class creates (namespace, veth, data folder) is removed by stop(),
and a namespace left by a killed test of the same name is cleaned first.

    with Orthanc() as pacs:
        pacs.upload(dicom_bytes)               # REST POST /instances
        pacs.qido("/studies?StudyInstanceUID=...")  # DICOMweb JSON
        pacs.dicom_port, pacs.aet, pacs.dicomweb_url
"""
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ORTHANC_BIN = os.environ.get("ORTHANC_BIN", "/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = os.environ.get(
    "ORTHANC_DICOMWEB_PLUGIN", "/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _host_addresses():
    return _ip("-4", "-o", "addr", "show").stdout


class Orthanc:
    """One Orthanc in namespace `imgpipe-orthanc-{pid}-{n}`, HTTP on 8042, DICOM on 4242."""
    _count = 0

    def __init__(self, aet="ORTHANC", http_port=8042, dicom_port=4242, modalities=None):
        """modalities: Orthanc's DicomModalities ({"NAME": [AET, host, port]}), for C-MOVE/C-STORE
        from Orthanc back to a listener on the host (the host is `self.host_ip`)."""
        for path in (ORTHANC_BIN, DICOMWEB_PLUGIN):
            if not os.path.exists(path):
                raise RuntimeError(f"missing {path} (Debian orthanc, orthanc-dicomweb)")
        Orthanc._count += 1
        tag = f"{os.getpid() % 100000}-{Orthanc._count}"
        self.netns = f"imgpipe-orthanc-{tag}"
        # Interface names are at most 15 characters.
        self.veth_host = f"vho{os.getpid() % 10000}x{Orthanc._count}"[:15]
        self.veth_ns = f"vno{os.getpid() % 10000}x{Orthanc._count}"[:15]
        self.aet, self.http_port, self.dicom_port = aet, http_port, dicom_port
        self.dir = tempfile.mkdtemp(prefix="imgpipe-orthanc-")
        self.proc = None
        self.log_path = os.path.join(self.dir, "orthanc.log")
        self._cleanup_stale()
        self._network()
        self._start(modalities or {})

    # ---- set-up ----
    def _cleanup_stale(self):
        if self.netns in _ip("netns", "list").stdout.split():
            for pid in _ip("netns", "pids", self.netns, check=False).stdout.split():
                subprocess.run(["kill", "-KILL", pid], check=False)
            _ip("netns", "del", self.netns, check=False)
        _ip("link", "del", self.veth_host, check=False)

    def _free_subnet(self):
        used = _host_addresses()
        for _ in range(200):
            third, fourth = random.randrange(0, 256), random.randrange(0, 64) * 4
            prefix = f"10.231.{third}."
            if f"{prefix}{fourth + 1}/" not in used and f"{prefix}{fourth + 2}/" not in used:
                return f"{prefix}{fourth + 1}", f"{prefix}{fourth + 2}"
        raise RuntimeError("no free 10.231.x.y/30 subnet")

    def _network(self):
        self.host_ip, self.ip = self._free_subnet()
        try:
            _ip("netns", "add", self.netns)
            _ip("link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns)
            _ip("link", "set", self.veth_ns, "netns", self.netns)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.veth_host)
            _ip("link", "set", self.veth_host, "up")
            ns = ["netns", "exec", self.netns, "ip"]
            _ip(*ns, "addr", "add", f"{self.ip}/30", "dev", self.veth_ns)
            _ip(*ns, "link", "set", self.veth_ns, "up")
            _ip(*ns, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as e:
            self._teardown_network()
            raise RuntimeError(f"cannot create the network namespace (root needed): {e.stderr}")

    def _start(self, modalities):
        config = {
            "Name": "imgpipe-test-orthanc",
            "StorageDirectory": os.path.join(self.dir, "storage"),
            "IndexDirectory": os.path.join(self.dir, "storage"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "DicomCheckCalledAet": True,
            "RemoteAccessAllowed": True,
            "AuthenticationEnabled": False,
            "HttpServerEnabled": True,
            "DicomModalities": modalities,
            "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Ssl": False},
            "StableAge": 1,
        }
        config_path = os.path.join(self.dir, "orthanc.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.netns, ORTHANC_BIN, config_path],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                self.rest("GET", "/system")
                return
            except (OSError, urllib.error.URLError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("Orthanc did not start; its log:\n" + self.log())
                time.sleep(0.1)

    # ---- use ----
    @property
    def url(self):
        return f"http://{self.ip}:{self.http_port}"

    @property
    def dicomweb_url(self):
        return f"{self.url}/dicom-web"

    def rest(self, method, path, body=None, content_type=None, timeout=30):
        """Orthanc's REST API: (status, body bytes). HTTP errors are returned, not raised."""
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def upload(self, part10):
        """Stores one DICOM file through REST; returns Orthanc's JSON answer."""
        status, body = self.rest("POST", "/instances", part10, "application/dicom")
        if status != 200:
            raise RuntimeError(f"Orthanc refused an upload: {status} {body[:200]!r}")
        return json.loads(body)

    def qido(self, path):
        """A QIDO-RS query (path under /dicom-web, e.g. "/studies?PatientID=X"): the JSON list."""
        status, body = self.rest("GET", "/dicom-web" + path)
        if status != 200:
            raise RuntimeError(f"QIDO {path}: {status} {body[:200]!r}")
        return json.loads(body) if body.strip() else []

    def instance_count(self):
        return json.loads(self.rest("GET", "/statistics")[1])["CountInstances"]

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    # ---- tear-down ----
    def _teardown_network(self):
        _ip("link", "del", self.veth_host, check=False)
        _ip("netns", "del", self.netns, check=False)

    def kill(self):
        """Stops Orthanc at once (SIGKILL); stop() still tears the namespace down."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self.kill()
        self._teardown_network()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
