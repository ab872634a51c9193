"""A throwaway imgpipe cluster on this machine for the scale-out benches: PostgreSQL (initdb in a
temp folder), optionally s3rver as the blob store, and any number of `imgpipe serve` processes
(each its own data dir and free port). Every child is stopped and every temp folder removed on
exit, on Ctrl-C and on SIGTERM."""
import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "api"))
sys.path.insert(0, os.path.join(REPO, "bench"))
from pg_server import PgServer  # noqa: E402

S3RVER = os.path.join(REPO, "tests", "s3", "node_modules", "s3rver", "bin", "s3rver.js")
if not os.path.exists(S3RVER):  # a worktree without node_modules: the main checkout's
    S3RVER = "/work/main/tests/s3/node_modules/s3rver/bin/s3rver.js"
BUCKET = "imgpipe-bench"
S3_ENV = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
CLK_TCK = os.sysconf("SC_CLK_TCK")

_cleanups = []


def _cleanup_all():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning the rest
            print(f"cleanup: {e}", file=sys.stderr)


def _on_signal(signum, _frame):
    _cleanup_all()
    sys.exit(128 + signum)


atexit.register(_cleanup_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def on_exit(fn):
    _cleanups.append(fn)
    return fn


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tempdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    on_exit(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def wait_for(fn, what, timeout=60, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}")


def start_pg():
    pg = PgServer()
    on_exit(pg.stop)
    # Durability as the pipeline bench: fsync on (the default); nothing tuned.
    return pg


def pg_stats(pg):
    """PostgreSQL's own counters for the database: transactions and statements' rows."""
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", "imgpipe", "-At",
         "-c", "SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, "
               "tup_updated, tup_deleted FROM pg_stat_database WHERE datname = 'imgpipe'"],
        check=True, capture_output=True, text=True).stdout.strip().split("|")
    keys = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted",
            "tup_updated", "tup_deleted")
    return dict(zip(keys, (int(x) for x in out)))


def pg_pids(pg):
    """The postmaster and its children (backends, walwriter, ...)."""
    with open(os.path.join(pg.dir, "data", "postmaster.pid")) as f:
        master = int(f.readline())
    return [master] + children_of(master)


def children_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(p))
        except OSError:
            pass
    return out


class S3rver:
    def __init__(self):
        self.dir = tempdir("imgpipe-bench-s3-")
        self.port = free_port()
        # --openssl-legacy-provider: s3rver's continuation tokens use DES.
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", S3RVER, "--directory", self.dir,
             "--address", "127.0.0.1", "--port", str(self.port), "--silent",
             "--configure-bucket", BUCKET],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        on_exit(self.stop)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_for(up, "s3rver")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


NO_LIMITS = {f"IMGPIPE_LIMITS_{name}": "0" for name in (
    "SUBMITS_PER_S_PER_CLIENT", "SUBMITS_PER_S_PER_ADDRESS", "CONNECTS_PER_S_PER_ADDRESS",
    "MAX_ACTIVE_JOBS_PER_CLIENT", "MAX_CONNECTIONS_PER_CLIENT")}

# The admin key every bench server gets (the bench uploads its image with it).
BENCH_ADMIN_KEY = "imgpipe-bench-admin-key-0123456789"


class Imgpipe:
    """`imgpipe serve ARGS` on 127.0.0.1, a free port and a private data dir."""

    def __init__(self, binary, args, env=None, name="imgpipe"):
        self.name = name
        self.data_dir = tempdir(f"imgpipe-bench-{name}-")
        # Load generators come from few addresses and clients, faster than any user: no limits.
        full_env = dict(os.environ, IMGPIPE_ADMIN_KEY=BENCH_ADMIN_KEY, **NO_LIMITS)
        full_env.update(env or {})
        self.log_path = os.path.join(self.data_dir, "stderr.log")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, *args],
            stdout=subprocess.PIPE, stderr=self._log, env=full_env, text=True,
            start_new_session=True)
        on_exit(self.stop)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on http://"):
            self.stop()
            with open(self.log_path) as f:
                raise RuntimeError(f"{name} did not start: {line!r} {f.read()[-2000:]}")
        self.base = line.split()[-1]
        self.host, port = self.base[len("http://"):].split(":")
        self.port = int(port)
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def stderr_tail(self, n=20):
        with open(self.log_path) as f:
            return "".join(f.readlines()[-n:])


class Http:
    """A keep-alive HTTP/1.1 connection (reopened on error)."""

    def __init__(self, host, port, timeout=30):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def json(self, method, path, obj=None, expect=(200,)):
        body = json.dumps(obj).encode() if obj is not None else None
        status, data = self.request(method, path, body,
                                    {"Content-Type": "application/json"} if body else None)
        if status not in expect:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data) if data else None


def upload_ct(http_conn, tmp):
    """Stores the bench's 128x128 signed 16-bit CT (bench/gen_fixtures.py); returns the ids."""
    import gen_fixtures
    path = os.path.join(tmp, "ct16.dcm")
    gen_fixtures.ct_image(path)
    with open(path, "rb") as f:
        status, data = http_conn.request("POST", "/pacs/images", f.read(),
                                         {"Content-Type": "application/dicom",
                                          "Authorization": "Bearer " + BENCH_ADMIN_KEY})
    if status not in (200, 201):
        raise RuntimeError(f"upload: {status} {data[:300]!r}")
    studies = http_conn.json("GET", "/pacs/studies")["studies"]
    study = http_conn.json("GET", f"/pacs/studies/{studies[0]['study_id']}")
    series = study["series"][0]["series_id"]
    detail = http_conn.json("GET", f"/pacs/studies/{study['study_id']}/series/{series}")
    return study["study_id"], series, detail["images"][0]["image_id"]


def demo_ct(http_conn):
    """The demo's CT series' middle slice (512x512): needs an api started with --demo."""
    studies = http_conn.json("GET", "/pacs/studies?ModalitiesInStudy=CT")["studies"]
    study = http_conn.json("GET", f"/pacs/studies/{studies[0]['study_id']}")
    series = [x for x in study["series"] if x["modality"] == "CT"][0]["series_id"]
    detail = http_conn.json("GET", f"/pacs/studies/{study['study_id']}/series/{series}")
    images = [i["image_id"] for i in detail["images"]]
    return study["study_id"], series, images[len(images) // 2]


def external_dir(tmp, sleep_s):
    """Three external algorithms: bench_sleep (sleep SLEEP_S then a summary-only output.json, so
    the result image is the input), bench_noop (the same without the sleep) and bench_stamp
    (bench_sleep that also reports when it started and ended, epoch ns from `date`, in its
    summary: a diagnosis of where a job's time goes; the two `date` runs cost two more execs)."""
    root = os.path.join(tmp, "external")
    ok = "printf '{\"summary\": {\"ok\": true}}' > output.json\n"
    stamp = (f"t0=$(date +%s%N)\nsleep {sleep_s}\nt1=$(date +%s%N)\n"
             "printf '{\"summary\": {\"t0\": %s, \"t1\": %s}}' $t0 $t1 > output.json\n")
    for name, body in (("bench_sleep", f"sleep {sleep_s}\n" + ok), ("bench_noop", ok),
                       ("bench_stamp", stamp)):
        d = os.path.join(root, name)
        os.makedirs(d)
        script = os.path.join(d, "run.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(script, 0o755)
        with open(os.path.join(d, "algorithm.json"), "w") as f:
            json.dump({"name": name, "description": f"bench: {name}",
                       "command": ["run.sh"], "scopes": ["image"], "time_limit_seconds": 30}, f)
    return root


class CpuSampler:
    """CPU seconds (user + system, plus reaped children for the workers' external programs) of
    groups of processes between two snapshots."""

    def __init__(self, groups):
        self.groups = groups  # name -> callable returning pids; "NAME.children": reaped children

    @staticmethod
    def _cpu(pid, children):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        if children:
            return (int(fields[13]) + int(fields[14])) / CLK_TCK  # cutime, cstime
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def snapshot(self):
        snap = {}
        for name, pids in self.groups.items():
            snap[name] = sum(self._cpu(p, name.endswith(".children")) for p in pids())
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        snap["_machine"] = (sum(cpu) - cpu[3] - cpu[4]) / CLK_TCK  # all but idle and iowait
        snap["_t"] = time.monotonic()
        return snap

    @staticmethod
    def delta(a, b):
        wall = b["_t"] - a["_t"]
        d = {k: (b[k] - a.get(k, 0.0)) / wall for k in b if k != "_t"}
        # Everything else busy on the machine (another build, the kernel's own threads).
        d["other"] = d.pop("_machine") - sum(d.values())
        return d, wall


def wait_quiet(max_load, timeout):
    """Waits (up to TIMEOUT s) for the 1-minute load average to fall below MAX_LOAD: the machine
    is shared. Returns the load seen last."""
    end = time.monotonic() + timeout
    while float(loadavg().split()[0]) >= max_load and time.monotonic() < end:
        time.sleep(5)
    return loadavg()


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
