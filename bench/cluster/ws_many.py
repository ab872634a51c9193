#!/usr/bin/python3
"""Connections beyond one process (issue 7): N idle WebSockets through the shipped nginx config
(deploy/nginx/imgpipe.conf) spread over PUSH imgpipe processes (`--roles push`) on one
PostgreSQL, then one result delivered to every connection; zero may be lost.

Layout (one host): PostgreSQL 15 (tests/api/pg_server.py), one `--roles api --demo` process (takes
the submissions and cancels; no workers, so jobs stay queued), PUSH `--roles push` processes
(each a results consumer and a WebSocket server), nginx with WORKERS worker processes (each under
the 20,000-open-files cap: a proxied WebSocket costs nginx two descriptors). The load is
LOADERS Node processes (bench/cluster/ws_hold.js), N / LOADERS connections each, from source
addresses 127.0.x.y (PER_SOURCE connections per address).

One client id per connection: every connection must receive its own result, so N results (N
jobs) are produced. They come from cancelling N queued jobs (`DELETE /api/jobs/{id}` commits the
job's result message on the `results` queue in the cancelling transaction); from the results
queue on, it is the path of every result: a push process's results consumer stores it as the
client's event, announces it with pg_notify, and the push process holding the client's
WebSocket (2 times in 3 another one) reads it from the event store and sends it.

Usage: bench/cluster/ws_many.py IMGPIPE_BIN [N] [PUSH]   (bench/cluster/ws_many.sh sets up)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
from imgpipe_server import ImgpipeServer  # noqa: E402
from nginx_server import NginxServer  # noqa: E402
from pg_server import PgServer  # noqa: E402

BIN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
PUSH = int(sys.argv[3]) if len(sys.argv) > 3 else 3
LOADERS = 5
PER_SOURCE = 5000
NGINX_WORKERS = 8
NODE_ENV = dict(os.environ, NODE_PATH=os.path.join(ROOT, "bench", "push", "node_modules"))


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pss_mb(pid):
    """Proportional set size: shared pages (nginx workers share the master's) counted once."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main():
    os.environ["IMGPIPE_BIN"] = BIN
    os.environ["IMGPIPE_QUEUE_MAX_DEPTH"] = "0"  # N jobs wait in one queue
    os.environ["IMGPIPE_LOG_LEVEL"] = "warn"
    log(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    pg = PgServer()
    shared = tempfile.mkdtemp(prefix="imgpipe-cluster-")
    work = tempfile.mkdtemp(prefix="imgpipe-cluster-work-")
    servers, loaders, nginx = [], [], None
    try:
        api = ImgpipeServer("--demo", "--roles", "api", "--database-url", pg.url,
                            data_dir=shared)
        servers.append(api)
        pushes = [ImgpipeServer("--roles", "push", "--database-url", pg.url, data_dir=shared)
                  for _ in range(PUSH)]
        servers += pushes
        nginx = NginxServer(
            api=[f"127.0.0.1:{api.port}"], push=[f"127.0.0.1:{p.port}" for p in pushes],
            main=f"worker_processes {NGINX_WORKERS};\nworker_rlimit_nofile 19000;",
            worker_connections=16000, listen_params="reuseport backlog=4096")
        base = f"http://127.0.0.1:{nginx.port}"
        study = nginx.get_json("/pacs/studies?ModalitiesInStudy=CT")["studies"][0]["study_id"]
        log(f"api :{api.port}, push {[p.port for p in pushes]}, nginx :{nginx.port} "
            f"({NGINX_WORKERS} workers); RSS idle: push "
            f"{[round(rss_mb(p.proc.pid), 1) for p in pushes]} MB")

        clients = os.path.join(work, "clients.txt")
        out = subprocess.run(["node", os.path.join(HERE, "api_load.js"), "jobs", base, str(N),
                              "64", study, clients], capture_output=True, text=True, env=NODE_ENV)
        made = json.loads(out.stdout.strip().splitlines()[-1])
        log(f"provisioned {made['clients']} clients and queued one job each through nginx in "
            f"{made['ms'] / 1000:.1f} s ({made['clients'] / made['ms'] * 1000:.0f} clients/s; "
            f"failed {made['failed']}) {out.stderr.strip()[:300]}")
        n = made["clients"]

        per = (n + LOADERS - 1) // LOADERS
        t0 = time.monotonic()
        for i in range(LOADERS):
            loaders.append(subprocess.Popen(
                ["node", os.path.join(HERE, "ws_hold.js"), f"ws://127.0.0.1:{nginx.port}/ws",
                 clients, str(i * per), str(min(n, (i + 1) * per)), "100",
                 str(10 + i * 10), str(PER_SOURCE)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=NODE_ENV))
        opened = [json.loads(p.stdout.readline()) for p in loaders]
        held = sum(o["opened"] for o in opened)
        log(f"{held} WebSockets open ({sum(o['failed'] for o in opened)} failed) in "
            f"{time.monotonic() - t0:.1f} s")
        time.sleep(3)
        push_rss = [rss_mb(p.proc.pid) for p in pushes]
        push_fds = [fds(p.proc.pid) for p in pushes]
        workers = children(nginx.proc.pid)
        nginx_rss = rss_mb(nginx.proc.pid) + sum(rss_mb(w) for w in workers)
        nginx_pss = pss_mb(nginx.proc.pid) + sum(pss_mb(w) for w in workers)
        worker_fds = [fds(w) for w in workers]
        log(f"holding {held}: push RSS {[round(r, 1) for r in push_rss]} MB, open files "
            f"{push_fds}; nginx RSS {nginx_rss:.1f} MB, PSS {nginx_pss:.1f} MB (master + "
            f"{len(workers)} workers), worker open files {worker_fds}; api RSS "
            f"{rss_mb(api.proc.pid):.1f} MB")

        for p in loaders:
            p.stdin.write("go\n")
            p.stdin.flush()
        t_go = time.monotonic()
        out = subprocess.run(["node", os.path.join(HERE, "api_load.js"), "cancel", base, clients,
                              "64"], capture_output=True, text=True, env=NODE_ENV)
        cancelled = json.loads(out.stdout.strip().splitlines()[-1])
        log(f"cancelled {cancelled['cancelled']} jobs (failed {cancelled['failed']}) through "
            f"nginx in {cancelled['ms'] / 1000:.1f} s "
            f"({cancelled['cancelled'] / cancelled['ms'] * 1000:.0f} results/s committed)")
        # Wait for every loader's report (each reports when all its connections got their result);
        # after 300 s more, force the report (that would be a loss).
        import selectors
        sel = selectors.DefaultSelector()
        for p in loaders:
            sel.register(p.stdout, selectors.EVENT_READ, p)
        reports, deadline = {}, time.monotonic() + 300
        while len(reports) < len(loaders):
            if time.monotonic() > deadline:
                for p in loaders:
                    if p not in reports:
                        p.stdin.write("report\n")
                        p.stdin.flush()
                deadline = float("inf")
            for key, _ in sel.select(timeout=1):
                reports[key.data] = json.loads(key.data.stdout.readline())
        received = sum(r["received"] for r in reports.values())
        last = max(r["last_ms"] for r in reports.values())
        log(f"RESULT: {held} connections held, {received} received their result "
            f"({held - received} lost, {sum(r['dupes'] for r in reports.values())} duplicates, "
            f"{sum(r['closed'] for r in reports.values())} closed); last result "
            f"{last / 1000:.1f} s after the first cancel (cancels took "
            f"{cancelled['ms'] / 1000:.1f} s); wall {time.monotonic() - t_go:.1f} s")
        log(f"after delivery: push RSS {[round(rss_mb(p.proc.pid), 1) for p in pushes]} MB; "
            f"nginx RSS {rss_mb(nginx.proc.pid) + sum(rss_mb(w) for w in workers):.1f} MB")
        log(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        errors = [line for line in nginx.error_log().splitlines() if "[alert]" in line
                  or "[emerg]" in line or "[crit]" in line]
        log(f"nginx error log: {len(errors)} alert/crit lines {errors[:3]}")
    finally:
        for p in loaders:
            try:
                p.stdin.write("exit\n")
                p.stdin.flush()
            except OSError:
                pass
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if nginx:
            nginx.stop()
        for s in servers:
            s.stop()
        pg.stop()
        shutil.rmtree(shared, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
