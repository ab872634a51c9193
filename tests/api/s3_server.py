"""A throwaway S3-compatible server for integration tests: s3rver (tests/s3, installed by
scripts/install-test-tools.sh) on a free loopback port with a fresh data folder. It does not check
signatures (the signer is tested against botocore in src/blob/s3/sigv4_test.cc)."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
S3RVER = os.path.join(REPO, "tests", "s3", "node_modules", "s3rver", "bin", "s3rver.js")
# s3rver's built-in account, as the standard AWS variables imgpipe reads.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    def __init__(self, *buckets):
        self.dir = tempfile.mkdtemp(prefix="imgpipe-s3rver-")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        args = []
        for bucket in buckets:
            args += ["--configure-bucket", bucket]
        # --openssl-legacy-provider: s3rver's continuation tokens use DES.
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", S3RVER, "--directory", self.dir,
             "--address", "127.0.0.1", "--port", str(self.port), "--silent", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("s3rver did not start")
                time.sleep(0.05)

    def objects(self, bucket, prefix=""):
        """Object keys held under bucket/prefix (s3rver's layout: KEY._S3rver_object files)."""
        suffix = "._S3rver_object"
        root = os.path.join(self.dir, bucket)
        found = []
        for dirpath, _, files in os.walk(os.path.join(root, prefix)):
            for f in files:
                if f.endswith(suffix):
                    found.append(os.path.relpath(os.path.join(dirpath, f[:-len(suffix)]), root))
        return sorted(found)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
