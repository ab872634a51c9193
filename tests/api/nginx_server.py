"""Runs the shipped deploy/nginx/imgpipe.conf (NginxServer) or imgpipe-tls.conf (TlsNginxServer)
in a throwaway nginx (stdlib only): a private prefix with its own pid file, error log, access log
and temp folders, in the foreground (`daemon off`), with only the marked lines of the shipped file
rewritten (deploy/nginx/render.py)."""
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "deploy", "nginx"))
from render import render  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imgpipe_server import HttpEndpoint, exchange  # noqa: E402

SHIPPED = os.path.join(ROOT, "deploy", "nginx", "imgpipe.conf")
SHIPPED_TLS = os.path.join(ROOT, "deploy", "nginx", "imgpipe-tls.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NginxServer(HttpEndpoint):
    """nginx on 127.0.0.1:free port in front of `api` and `push` (lists of "HOST:PORT").
    main: extra main-context lines (worker_processes, worker_rlimit_nofile...);
    worker_connections: per worker; listen_params: appended to the listen address (e.g.
    "reuseport": the kernel spreads new connections evenly over the workers); config: the shipped
    file to run; render_args: more marked lines to rewrite (render.py's keywords)."""

    def __init__(self, api, push, main="worker_processes 1;", worker_connections=1024,
                 listen_params="", config=SHIPPED, **render_args):
        if not os.path.exists(NGINX):
            raise RuntimeError("nginx is not installed (scripts/install-deps.sh installs it)")
        self.prefix = tempfile.mkdtemp(prefix="imgpipe-nginx-")
        os.chmod(self.prefix, 0o755)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.access_log = os.path.join(self.prefix, "access.log")
        with open(config) as f:
            listen = f"127.0.0.1:{self.port} {listen_params}".strip()
            site = render(f.read(), api=api, push=push, listen=listen,
                          access_log=self.access_log, **render_args)
        with open(os.path.join(self.prefix, "imgpipe.conf"), "w") as f:
            f.write(site)
        p = self.prefix
        self.conf = os.path.join(p, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(f"""{main}
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    client_body_temp_path {p}/body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    include {p}/imgpipe.conf;
}}
""")
        check = subprocess.run([NGINX, "-t", "-p", p, "-c", self.conf], capture_output=True,
                               text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed: {check.stderr}")
        self.proc = subprocess.Popen([NGINX, "-p", p, "-c", self.conf, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {self.proc.stderr.read()}")
                time.sleep(0.05)

    def log_lines(self):
        """The access log (log_format imgpipe: `up=` is the upstream address, or addresses)."""
        with open(self.access_log) as f:
            return f.read().splitlines()

    def error_log(self):
        with open(os.path.join(self.prefix, "error.log")) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)


class TlsNginxServer(NginxServer):
    """deploy/nginx/imgpipe-tls.conf: HTTPS on self.port (certificate chain `cert`, key `key`) and
    the redirecting plain-HTTP listener on self.http_port, both on 127.0.0.1. request() and
    get_json() speak HTTPS, verifying the server against the CA file `ca`."""

    def __init__(self, api, push, cert, key, ca, **kwargs):
        self.ca = ca
        self.http_port = free_port()
        super().__init__(api, push, config=SHIPPED_TLS, http_listen=f"127.0.0.1:{self.http_port}",
                         ssl_certificate=cert, ssl_certificate_key=key, **kwargs)

    def context(self, **versions):
        """A client context trusting only the test CA, checking the host name (or IP address);
        versions: minimum_version / maximum_version (ssl.TLSVersion)."""
        ctx = ssl.create_default_context(cafile=self.ca)
        for name, value in versions.items():
            setattr(ctx, name, value)
        return ctx

    def request(self, method, path, body=None, headers=None, timeout=30, context=None,
                source=None):
        """HTTPS; source: the client's local address (any 127.x.y.z on Linux loopback)."""
        conn = http.client.HTTPSConnection(
            self.host, self.port, timeout=timeout, context=context or self.context(),
            source_address=(source, 0) if source else None)
        return exchange(conn, method, path, body, headers)

    def http_request(self, method, path):
        """Plain HTTP to the redirecting listener."""
        conn = http.client.HTTPConnection(self.host, self.http_port, timeout=30)
        return exchange(conn, method, path)
