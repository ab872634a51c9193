#!/usr/bin/python3
"""Soak (issue 9, point 5): the whole pipeline at a steady fraction of its measured maximum, with
WebSocket clients connected, for a long time; reports whether memory, open files and latency stay
flat.

  bench/soak/soak.py [--bin imgpipe] [--minutes 10] [--rate JOBS_PER_S | --fraction 0.7]
                     [--clients 50] [--algorithm window_level] [--warmup-minutes 2]

One `imgpipe serve` (every role, SQLite, the bench's 128x128 CT image). Without --rate, a first
phase finds the maximum: for 50 s, jobs are submitted whenever fewer than --max-in-flight (200)
are unfinished, and the maximum is the results per second of the last 40 s; the soak then submits at --fraction of it, spread evenly over --clients
clients, each holding a WebSocket that receives its results. Every 10 s: the server's RSS and open
files (from /metrics) and the p50/p99 of submit -> result over that window. Verdicts against issue
9's bar: RSS growth after warm-up under 5% (the mean of the last minute's samples against the
first minute's), open files back to their warm-up level, the p99 of the last minute's results
within 1.5x the first minute's. Each 10 s line also shows the messages waiting in the algorithm's
queue and in results (where a slowdown queues up). SOAK_KEEP_LOG=FILE keeps the server's log."""
import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import time

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
import cluster  # noqa: E402
from cluster import Http, Imgpipe, log  # noqa: E402
from latency import AsyncHttp, pct  # noqa: E402


def scrape(conn, algorithm):
    """RSS, open files, and the waiting messages of the algorithm's queue and of results."""
    text = conn.request("GET", "/metrics")[1].decode()

    def value(name):
        m = re.search(rf"^{name} (\S+)$", text, re.M)
        return float(m.group(1)) if m else float("nan")
    return (value("process_resident_memory_bytes"), value("process_open_fds"),
            value(f'imgpipe_queue_visible_messages{{queue="algo.{algorithm}"}}'),
            value('imgpipe_queue_visible_messages{queue="results"}'))


async def run(args, api, ids, clients, rate, seconds, window_s=10, max_in_flight=None):
    """Submits at `rate` jobs/s for `seconds` (holding back while `max_in_flight` jobs are
    submitted and not finished, if given); returns per-window (t, rss, fds, p50, p99, n), submit
    errors, results not received, jobs submitted, results received, time of the last result."""
    study, series, image = ids
    sent_at = {}  # job_id -> perf_counter at submit
    latencies = []  # (time received, ms)
    # Results that arrived before their submit's 202 was read (the job ran faster than this
    # process got back to the HTTP reply): job_id -> perf_counter at arrival.
    early = {}
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
            now = time.perf_counter()
            t0 = sent_at.pop(event["job_id"], None)
            if t0 is not None:
                latencies.append((now, (now - t0) * 1000))
            else:
                early[event["job_id"]] = now

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    https = [AsyncHttp(api.host, api.port) for _ in range(4)]
    conn = Http(api.host, api.port)
    start = time.perf_counter()
    windows = []
    next_window = start + window_s
    n = 0
    errors = 0

    early_count = [0]
    job_client = {}  # job_id -> client, to look into results that never arrive

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
        arrived = early.pop(reply["job_id"], None)
        if arrived is not None:
            early_count[0] += 1
            latencies.append((arrived, (arrived - t0) * 1000))
        else:
            sent_at[reply["job_id"]] = t0
            job_client[reply["job_id"]] = body["client_id"]

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
        while n < due and (max_in_flight is None or len(pending) + len(sent_at) < max_in_flight):
            task = asyncio.create_task(submit_locked(n))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        if now >= next_window:
            rss, fds, algo_waiting, results_waiting = scrape(conn, args.algorithm)
            recent = [ms for t, ms in latencies if t >= next_window - window_s]
            windows.append((now - start, rss, fds, pct(recent, 50) if recent else float("nan"),
                            pct(recent, 99) if recent else float("nan"), len(recent), recent))
            log(f"t={now - start:5.0f}s rss={rss / 2**20:6.1f} MiB fds={fds:4.0f} "
                f"p50={windows[-1][3]:6.1f} ms p99={windows[-1][4]:6.1f} ms n={len(recent)} "
                f"in flight={len(sent_at)} waiting: algo={algo_waiting:.0f} "
                f"results={results_waiting:.0f} errors={errors}")
            next_window += window_s
        await asyncio.sleep(0.002)
    await asyncio.gather(*pending)
    deadline = time.perf_counter() + 60
    while sent_at and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    for job_id in list(sent_at)[:10]:  # not received: what does the server say?
        client = job_client[job_id]
        job = conn.request("GET", f"/api/jobs/{job_id}?client_id={client}")[1][:300]
        stored, after = [], 0
        while True:  # every stored event of the client, a page at a time
            page = json.loads(conn.request(
                "GET", f"/api/events?client_id={client}&after={after}&limit=1000")[1])
            events = page.get("events", [])
            if not events:
                break
            stored += [e["seq"] for e in events if e.get("job_id") == job_id]
            after = events[-1]["seq"]
        log(f"not received: job {job_id}: {job!r}; stored event seq {stored}")
    if early_count[0]:
        log(f"{early_count[0]} results arrived before their submit's 202 was read")
    for task in readers:
        task.cancel()
    for ws in sockets:
        await ws.close()
    last_result_s = latencies[-1][0] - start if latencies else float("nan")
    return windows, errors, len(sent_at), n, len(latencies), last_result_s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.environ.get(
        "IMGPIPE_BIN", os.path.join(here, "..", "..", "build", "src", "app", "imgpipe")))
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--warmup-minutes", type=float, default=2)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--fraction", type=float, default=0.7)
    p.add_argument("--max-in-flight", type=int, default=200,
                   help="jobs kept submitted and unfinished while the maximum is measured")
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
        # The maximum: the completion rate while submissions keep --max-in-flight jobs waiting
        # (the workers never idle, the backlog never runs away), over 40 s after the first 10.
        windows, errors, _, _, _, _ = asyncio.run(
            run(args, api, ids, clients, 2000, 50, max_in_flight=args.max_in_flight))
        steady = windows[1:]
        maximum = sum(w[5] for w in steady) / (len(steady) * 10)
        rate = maximum * args.fraction
        log(f"maximum: {maximum:.0f} jobs/s sustained with {args.max_in_flight} in flight "
            f"({errors} submit errors); soak at {rate:.0f} jobs/s")
    windows, errors, lost, n, _, _ = asyncio.run(
        run(args, api, ids, clients, rate, args.minutes * 60))
    warm = [w for w in windows if w[0] >= args.warmup_minutes * 60]
    first, last = warm[:6], warm[-6:]  # the first and the last minute after warm-up

    def mean(values):
        return sum(values) / len(values)

    def pooled_p99(minute):
        return pct([ms for w in minute for ms in w[6]], 99)

    rss0, rss1 = mean([w[1] for w in first]), mean([w[1] for w in last])
    rss_max = max(w[1] for w in warm)
    fds0, fds1 = warm[0][2], warm[-1][2]
    p99_first, p99_last = pooled_p99(first), pooled_p99(last)
    worst = max(warm, key=lambda w: w[4])
    print(f"\nSoak: {n} jobs at {rate:.0f} jobs/s over {args.minutes:g} min, {args.clients} "
          f"WebSocket clients, {args.algorithm}; {errors} submit errors, {lost} results "
          f"not received\n")
    print("| measure | first minute after warm-up | last minute | bar | verdict |")
    print("|---|---:|---:|---|---|")
    growth = (rss1 - rss0) / rss0 * 100
    print(f"| RSS (mean of the minute's samples) | {rss0 / 2**20:.1f} MiB | {rss1 / 2**20:.1f} MiB "
          f"({growth:+.1f}%; highest sample {rss_max / 2**20:.1f} MiB) | growth < 5% | "
          f"{'met' if growth < 5 else 'NOT met'} |")
    print(f"| open files | {fds0:.0f} | {fds1:.0f} | no leak | "
          f"{'met' if fds1 <= fds0 + 2 else 'NOT met'} |")
    print(f"| p99 submit -> result (the minute's results pooled) | {p99_first:.1f} ms | "
          f"{p99_last:.1f} ms | stable (< 1.5x) | "
          f"{'met' if p99_last < 1.5 * p99_first else 'NOT met'} |")
    print(f"| p50 | {pct([ms for w in first for ms in w[6]], 50):.1f} ms | "
          f"{pct([ms for w in last for ms in w[6]], 50):.1f} ms | | |")
    print(f"| worst 10 s window after warm-up | | p99 {worst[4]:.1f} ms at t={worst[0]:.0f} s | "
          f"| |")
    keep = os.environ.get("SOAK_KEEP_LOG")
    if keep:
        shutil.copy(api.log_path, keep)

if __name__ == "__main__":
    main()
