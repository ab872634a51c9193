"""A throwaway PostgreSQL 15 for integration tests (like src/db/postgres/test_server.cc): initdb in
a temp folder, the server on a free loopback port, a database "imgpipe"; as root, the binaries
run as the postgres user."""
import os
import shutil
import socket
import subprocess
import tempfile

BIN = "/usr/lib/postgresql/15/bin"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="imgpipe-pg-")
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run([f"{BIN}/initdb", "-D", f"{self.dir}/data", "-U", "postgres", "--auth=trust",
                   "--no-sync", "-E", "UTF8"])
        self.resume()
        self._run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c",
                   "CREATE DATABASE imgpipe"])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/imgpipe"

    def pause(self):
        """Stops the server, keeping its data (resume() starts it again on the same port)."""
        self._run([f"{BIN}/pg_ctl", "stop", "-w", "-m", "fast", "-D", f"{self.dir}/data"])

    def resume(self):
        self._run([f"{BIN}/pg_ctl", "start", "-w", "-t", "60", "-D", f"{self.dir}/data", "-l",
                   f"{self.dir}/server.log", "-o",
                   f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"])

    def _run(self, argv):
        if self.as_root:
            argv = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in argv)]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self):
        try:
            self._run([f"{BIN}/pg_ctl", "stop", "-w", "-m", "fast", "-D", f"{self.dir}/data"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
