#!/usr/bin/python3
"""Soak (issue 9, point 5): the whole pipeline at a steady fraction of its measured maximum, with
WebSocket clients connected, for a long time; reports whether memory, open files and latency stay
flat.

  bench/soak/soak.py [--bin imgpipe] [--minutes 10] [--rate JOBS_PER_S | --fraction 0.7]
                     [--clients 50] [--algorithm window_level] [--warmup-minutes 2]

One `imgpipe serve` (every role, SQLite, the bench's 128x128 CT image). Without --rate, a first
phase finds the maximum: 2,000 jobs submitted as fast as they are accepted, throughput = jobs /
time to the last result; the soak then submits at --fraction of it, spread evenly over --clients
clients, each holding a WebSocket that receives its results. Every 10 s: the server's RSS and open
files (from /metrics) and the p50/p99 of submit -> result over that window. Verdicts against issue
9's bar: RSS growth after warm-up under 5%, open files back to their warm-up level, p99 of the
last minutes within 1.5x the first minute after warm-up."""
import argparse
import asyncio
import json
import os
import re
import sys
import time

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
import cluster  # noqa: E402
from cluster import Http, Imgpipe, log  # noqa: E402
from latency import AsyncHttp, pct  # noqa: E402


def scrape(conn):
    text = conn.request("GET", "/metrics")[1].decode()

    def value(name):
        m = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(m.group(1)) if m else float("nan")
    return value("process_resident_memory_bytes"), value("process_open_fds")


async def run(args, api, ids, clients, rate, seconds, window_s=10):
    """Submits at `rate` jobs/s for `seconds`; returns per-window (t, rss, fds, p50, p99, n)."""
    study, series, image = ids
    sent_at = {}  # job_id -> perf_counter at submit
    latencies = []  # (time received, ms)
    sockets = []
    for client in clients:
        ws = await websockets.connect(
            f"ws://{api.host}:{api.port}/ws?client_id={client}", max_size=None)
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        sockets.append(ws)

    async def reader(ws):
        async for text in ws:
            event = json.loads(text)
            if event.get("type") != "result":
                continue
            t0 = sent_at.pop(event["job_id"], None)
            if t0 is not None:
                now = time.perf_counter()
                latencies.append((now, (now - t0) * 1000))

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    https = [AsyncHttp(api.host, api.port) for _ in range(4)]
    conn = Http(api.host, api.port)
    start = time.perf_counter()
    windows = []
    next_window = start + window_s
    n = 0
    errors = 0

    async def submit(i):
        nonlocal errors
        body = {"study_id": study, "series_id": series, "image_id": image, "scope": "image",
                "client_id": clients[i % len(clients)], "params": {}}
        t0 = time.perf_counter()
        status, reply = await https[i % len(https)].post_json(f"/api/process/{args.algorithm}",
                                                             body)
        if status != 202:
            errors += 1
            return
        sent_at[reply["job_id"]] = t0

    locks = [asyncio.Lock() for _ in https]

    async def submit_locked(i):
        async with locks[i % len(https)]:
            await submit(i)

    pending = set()
    while True:
        now = time.perf_counter()
        if now - start >= seconds:
            break
        due = int((now - start) * rate)
        while n < due:
            task = asyncio.create_task(submit_locked(n))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        if now >= next_window:
            rss, fds = scrape(conn)
            recent = [ms for t, ms in latencies if t >= next_window - window_s]
            windows.append((now - start, rss, fds, pct(recent, 50) if recent else float("nan"),
                            pct(recent, 99) if recent else float("nan"), len(recent)))
            log(f"t={now - start:5.0f}s rss={rss / 2**20:6.1f} MiB fds={fds:4.0f} "
                f"p50={windows[-1][3]:6.1f} ms p99={windows[-1][4]:6.1f} ms n={len(recent)} "
                f"in flight={len(sent_at)} errors={errors}")
            next_window += window_s
        await asyncio.sleep(0.002)
    await asyncio.gather(*pending)
    deadline = time.perf_counter() + 60
    while sent_at and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    return windows, errors, len(sent_at), n


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.environ.get(
        "IMGPIPE_BIN", os.path.join(here, "..", "..", "build", "src", "app", "imgpipe")))
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--warmup-minutes", type=float, default=2)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--fraction", type=float, default=0.7)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--algorithm", default="window_level")
    args = p.parse_args()

    tmp = cluster.tempdir("imgpipe-soak-")
    api = Imgpipe(args.bin, ["--roles", "api,worker,push"], {"IMGPIPE_LOG_LEVEL": "warn"}, "soak")
    conn = Http(api.host, api.port)
    ids = cluster.upload_ct(conn, tmp)
    clients = [conn.json("POST", "/api/provision", expect=(201,))["client_id"]
               for _ in range(args.clients)]
    rate = args.rate
    if not rate:
        # The maximum: as fast as it goes for 20 s (the submitter outruns the workers).
        windows, errors, lost, n = asyncio.run(run(args, api, ids, clients, 2000, 20))
        rate = (n - lost) / 20 * args.fraction
        log(f"maximum about {(n - lost) / 20:.0f} jobs/s; soak at {rate:.0f} jobs/s")
    windows, errors, lost, n = asyncio.run(run(args, api, ids, clients, rate, args.minutes * 60))
    warm = [w for w in windows if w[0] >= args.warmup_minutes * 60]
    rss0, rss1 = warm[0][1], max(w[1] for w in warm)
    fds0, fds1 = warm[0][2], warm[-1][2]
    first_minute = [w[4] for w in warm[:6]]
    last_minutes = [w[4] for w in warm[-6:]]
    p99_first, p99_last = max(first_minute), max(last_minutes)
    print(f"\nSoak: {n} jobs at {rate:.0f} jobs/s over {args.minutes:g} min, {args.clients} "
          f"WebSocket clients, {args.algorithm}; {errors} submit errors, {lost} results "
          f"not received\n")
    print("| measure | after warm-up | end (max) | bar | verdict |")
    print("|---|---:|---:|---|---|")
    growth = (rss1 - rss0) / rss0 * 100
    print(f"| RSS | {rss0 / 2**20:.1f} MiB | {rss1 / 2**20:.1f} MiB (+{growth:.1f}%) | < 5% | "
          f"{'met' if growth < 5 else 'NOT met'} |")
    print(f"| open files | {fds0:.0f} | {fds1:.0f} | no leak | "
          f"{'met' if fds1 <= fds0 + 2 else 'NOT met'} |")
    print(f"| p99 submit -> result (10 s windows) | {p99_first:.1f} ms (first minute) | "
          f"{p99_last:.1f} ms (last minute) | stable (< 1.5x) | "
          f"{'met' if p99_last < 1.5 * p99_first else 'NOT met'} |")
    print(f"| p50 (last minute) | | {max(w[3] for w in warm[-6:]):.1f} ms | | |")


if __name__ == "__main__":
    main()
