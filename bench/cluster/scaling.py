#!/usr/bin/python3
"""Scale-out throughput (issue 7): one api+push process and 1, 2, 4 worker processes (8 slots
each) sharing PostgreSQL and a blob store (s3rver, or one shared folder), running an EXTERNAL
algorithm that sleeps 50 ms. Ideal = slots / 0.05 s.

  bench/cluster/scaling.py [--bin imgpipe] [--workers 1,2,4] [--blobs s3|folder]
                           [--algorithm bench_sleep|bench_noop] [--seconds 15] [--clients 256]

Per run, a fresh cluster: the backlog (jobs over --clients client ids, each client a FIFO group)
is submitted before the workers start; then the workers drain it. Throughput = jobs finished per
second between 10% and 90% of the backlog (server timestamps, finished_at_ms), i.e. steady state.
Prints a Markdown table on stdout; progress on stderr; raw per-run JSON under --out."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import cluster
from cluster import Http, Imgpipe, log


def submit_all(api, ids, clients, algorithm, total, threads=4):
    """Submits TOTAL jobs round-robin over CLIENTS from THREADS keep-alive connections."""
    study, series, image = ids
    errors = []
    counter = iter(range(total))
    lock = threading.Lock()

    def run():
        conn = Http(api.host, api.port)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            body = {"study_id": study, "series_id": series, "image_id": image, "scope": "image",
                    "client_id": clients[i % len(clients)], "params": {}}
            status, data = conn.request("POST", f"/api/process/{algorithm}",
                                        json.dumps(body).encode(),
                                        {"Content-Type": "application/json"})
            if status != 202:
                errors.append((status, data[:200]))
                if len(errors) > 20:
                    return
    t0 = time.monotonic()
    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"submits refused: {errors[:3]}")
    return total / (time.monotonic() - t0)


def all_jobs(conn, clients):
    jobs = []
    for c in clients:
        jobs += conn.json("GET", f"/api/jobs?client_id={c}&limit=1000")["jobs"]
    return jobs


def analyse(jobs, slots):
    done = [j for j in jobs if j["status"] == "succeeded"]
    fin = sorted(j["finished_at_ms"] for j in jobs if j["status"] == "succeeded")
    n = len(fin)
    lo, hi = fin[n // 10], fin[(n * 9) // 10]
    rate = ((n * 9) // 10 - n // 10) / ((hi - lo) / 1000.0)
    # Occupancy of the slots within the window: time inside a run (started -> finished).
    busy = 0.0
    for j in jobs:
        if j["status"] != "succeeded":
            continue
        a, b = max(j["started_at_ms"], lo), min(j["finished_at_ms"], hi)
        busy += max(0, b - a)
    in_run = [j["finished_at_ms"] - j["started_at_ms"] for j in jobs if j["status"] == "succeeded"]
    dur = [j["duration_ms"] for j in jobs if j["status"] == "succeeded"]
    return {"succeeded": len(done), "failed": sum(j["status"] == "failed" for j in jobs),
            "other": sum(j["status"] not in ("succeeded", "failed") for j in jobs),
            "rate": rate, "window_s": (hi - lo) / 1000.0,
            "occupancy": busy / (slots * (hi - lo)),
            "started_to_finished_ms_p50": statistics.median(in_run),
            "started_to_finished_ms_mean": statistics.fmean(in_run),
            "duration_ms_p50": statistics.median(dur), "duration_ms_mean": statistics.fmean(dur),
            "errors": list({j["error"]["message"] for j in jobs if j.get("error")})[:3],
            **stamps(done)}


def stamps(done):
    """bench_stamp: the job's time before, inside and after its program (median ms)."""
    s = [j for j in done if "t0" in (j.get("summary") or {})]
    if not s:
        return {}
    med = lambda f: statistics.median(f(j) for j in s)  # noqa: E731
    return {"before_program_ms": med(lambda j: j["summary"]["t0"] / 1e6 - j["started_at_ms"]),
            "program_ms": med(lambda j: (j["summary"]["t1"] - j["summary"]["t0"]) / 1e6),
            "after_program_ms": med(lambda j: j["finished_at_ms"] - j["summary"]["t1"] / 1e6)}


def run_one(args, workers):
    slots = workers * args.concurrency
    ideal = slots / args.sleep if args.algorithm != "bench_noop" else None
    total = args.jobs or max(2000, int((ideal or 640) * args.seconds))
    if args.quiet_load:
        cluster.wait_quiet(args.quiet_load, 600)
    log(f"== {workers} worker(s), {slots} slots, {total} jobs, blobs={args.blobs}, "
        f"algorithm={args.algorithm}, load {cluster.loadavg()}")
    tmp = cluster.tempdir("imgpipe-bench-cluster-")
    ext = cluster.external_dir(tmp, args.sleep)
    pg = cluster.start_pg()
    env = {"IMGPIPE_ALGORITHMS_EXTERNAL_DIR": ext, "IMGPIPE_QUEUE_MAX_DEPTH": "0",
           "IMGPIPE_LOG_LEVEL": "warn"}
    common = ["--database-url", pg.url]
    s3 = None
    if args.blobs == "s3":
        s3 = cluster.S3rver()
        env.update(cluster.S3_ENV)
        common += ["--blob-url", f"s3://{cluster.BUCKET}/bench", "--blob-s3-endpoint", s3.endpoint]
    else:  # one folder shared by every process (as a shared file system would be)
        shared = cluster.tempdir("imgpipe-bench-blobs-")
        common += ["--data-dir", shared]
    api = Imgpipe(args.bin, ["--roles", "api,push", *common], env, "api")
    conn = Http(api.host, api.port)
    ids = cluster.upload_ct(conn, tmp)
    clients = [conn.json("POST", "/api/provision", expect=(201,))["client_id"]
               for _ in range(args.clients)]
    queue = [a["queue"] for a in conn.json("GET", "/api/algorithms")["algorithms"]
             if a["name"] == args.algorithm][0]
    submit_rate = submit_all(api, ids, clients, args.algorithm, total)
    log(f"   backlog submitted: {submit_rate:.0f} submits/s")

    pg_before = cluster.pg_stats(pg)
    ws = [Imgpipe(args.bin, ["--roles", "worker", "--algorithms", args.algorithm,
                             "--concurrency", str(args.concurrency), *common], env, f"worker{i}")
          for i in range(workers)]
    sampler = cluster.CpuSampler({
        "api": lambda: [api.pid],
        "workers": lambda: [w.pid for w in ws],
        "workers.children": lambda: [w.pid for w in ws],
        "postgres": lambda: cluster.pg_pids(pg),
        "s3rver": lambda: [s3.pid] if s3 else [],
        "bench": lambda: [os.getpid()],
    })
    snaps, t0 = [], time.monotonic()
    deleted = 0
    perf = None
    while deleted < total:
        if time.monotonic() - t0 > args.timeout:
            raise RuntimeError(f"timeout: {deleted}/{total} done")
        q = conn.json("GET", f"/api/queues/{queue}")
        deleted = q["deleted"]
        if total * 0.2 <= deleted <= total * 0.8 and (not snaps or len(snaps) < 2 and
                                                      deleted >= total * 0.7):
            snaps.append(sampler.snapshot())
        if args.perf and perf is None and deleted >= total * 0.3:
            # System-wide profile of the steady state (every process: workers, PG, s3rver).
            perf_out = os.path.join(args.perf_dir, f"perf-{args.blobs}-{args.algorithm}-"
                                                   f"{workers}w.data")
            perf = subprocess.Popen(["perf", "record", "-a", "-g", "-F", "499", "-o", perf_out,
                                     "--", "sleep", str(args.perf)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cluster.on_exit(lambda: perf.poll() is None and perf.kill())
        time.sleep(0.2)
    drain_s = time.monotonic() - t0
    if perf is not None:
        perf.wait()
    cpu, cpu_wall = cluster.CpuSampler.delta(*snaps) if len(snaps) == 2 else ({}, 0)
    time.sleep(1)  # the statistics collector's counters lag by up to ~0.5 s
    pg_after = cluster.pg_stats(pg)
    jobs = all_jobs(conn, clients)
    result = analyse(jobs, slots)
    result.update({"workers": workers, "slots": slots, "jobs": total, "ideal": ideal,
                   "submit_rate": submit_rate, "drain_s": drain_s, "cpu": cpu,
                   "cpu_window_s": cpu_wall, "blobs": args.blobs, "algorithm": args.algorithm,
                   "load": cluster.loadavg(),
                   "pg_per_job": {k: (pg_after[k] - pg_before[k]) / total for k in pg_after}})
    log("   " + json.dumps(result))
    for w in ws:
        w.stop()
    api.stop()
    cluster._cleanup_all()
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.environ.get("IMGPIPE_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "src", "app", "imgpipe")))
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--blobs", choices=("s3", "folder"), default="s3")
    p.add_argument("--algorithm", choices=("bench_sleep", "bench_noop", "bench_stamp"), default="bench_sleep")
    p.add_argument("--sleep", type=float, default=0.05)
    p.add_argument("--seconds", type=float, default=15, help="backlog = ideal rate x this")
    p.add_argument("--jobs", type=int, default=0, help="backlog size (overrides --seconds)")
    p.add_argument("--clients", type=int, default=256)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--out", default="")
    p.add_argument("--perf", type=float, default=0,
                   help="profile the whole machine (perf record -a -g) for this many seconds")
    p.add_argument("--perf-dir", default=".")
    p.add_argument("--quiet-load", type=float, default=0,
                   help="before each run, wait (up to 10 min) for the 1-min load below this")
    args = p.parse_args()
    results = [run_one(args, int(n)) for n in args.workers.split(",")]
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    print(f"| workers | slots | jobs | ideal jobs/s | measured jobs/s | % of ideal | slot occupancy "
          f"| start->finish p50 | CPU cores: api / workers / their programs / PG / s3rver / bench "
          f"(other processes) "
          f"| CPU ms per job, same order |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for r in results:
        ideal = f"{r['ideal']:.0f}" if r["ideal"] else "-"
        pct = f"{100 * r['rate'] / r['ideal']:.0f}%" if r["ideal"] else "-"
        c = r["cpu"]
        keys = ("api", "workers", "workers.children", "postgres", "s3rver", "bench")
        cpu = " / ".join(f"{c.get(k, 0):.2f}" for k in keys) + \
            f" (other {c.get('other', 0):.2f})"
        per_job = " / ".join(f"{1000 * c.get(k, 0) / r['rate']:.1f}" for k in keys)
        print(f"| {r['workers']} | {r['slots']} | {r['jobs']} | {ideal} | {r['rate']:.0f} | {pct} "
              f"| {100 * r['occupancy']:.0f}% | {r['started_to_finished_ms_p50']:.0f} ms | {cpu} "
              f"| {per_job} |")
        if r["failed"] or r["other"]:
            print(f"\n(run with {r['workers']} workers: {r['failed']} failed, {r['other']} other: "
                  f"{r['errors']})\n")


if __name__ == "__main__":
    main()
