"""Starts and stops a live `imgpipe serve` for integration tests (stdlib only)."""
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import json


def exchange(conn, method, path, body=None, headers=None):
    """One request on `conn` (then closed): (status, lowercased headers, body)."""
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


class HttpEndpoint:
    """request() and get_json() against self.host:self.port (a server, or a proxy in front)."""

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        return exchange(conn, method, path, body, headers)

    def get_json(self, path, expect=200):
        status, headers, data = self.request("GET", path)
        if status != expect:
            raise AssertionError(f"GET {path} on {self.host}:{self.port}: {status} {data[:300]!r}")
        return json.loads(data)


# The admin key test servers get unless a test gives its own (env IMGPIPE_ADMIN_KEY; "" leaves
# it unset, so the server generates one or, with --demo, runs open).
TEST_ADMIN_KEY = "imgpipe-test-admin-key-0123456789"


class ImgpipeServer(HttpEndpoint):
    """A server on 127.0.0.1 with a free port and a private data dir."""

    def __init__(self, *extra_args, env=None, data_dir=None):
        """data_dir: an existing data dir to serve (kept by cleanup); default a new one."""
        self.bin = os.environ.get("IMGPIPE_BIN", "build/src/app/imgpipe")
        self.owns_data_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="imgpipe-it-")
        full_env = dict(os.environ)
        full_env["IMGPIPE_ADMIN_KEY"] = TEST_ADMIN_KEY
        full_env.update(env or {})
        if not full_env["IMGPIPE_ADMIN_KEY"]:
            del full_env["IMGPIPE_ADMIN_KEY"]
        self.admin_key = full_env.get("IMGPIPE_ADMIN_KEY")
        # Headers for admin operations (uploads, STOW, dead letters).
        self.admin_headers = {"Authorization": "Bearer " + self.admin_key} if self.admin_key else {}
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
             *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on http://"):
            err = self.proc.stderr.read()
            try:  # the exit status says how it ended (a signal is negative)
                status = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                status = "still running, killed"
            raise RuntimeError(f"imgpipe did not start (exit status {status}): {line!r} {err}")
        self.base = line.split()[-1]
        self.host, port = self.base[len("http://"):].split(":")
        self.port = int(port)
        self.stderr_lines = []
        self.stdout_lines = [line]  # every stdout line, "listening on ..." first
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.stdout_lines.append(line)

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        if self.owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
