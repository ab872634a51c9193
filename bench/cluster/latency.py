#!/usr/bin/python3
"""End-to-end latency through PostgreSQL (issue 7): submit -> result pushed over WebSocket.

  bench/cluster/latency.py [--bin imgpipe] [-n 500] [--algorithm window_level] [--gap-ms 20]
                           [--layout split|single] [--blobs folder|s3]

split (default): an `api,push` process and a `worker` process (the distributed path) on one
PostgreSQL; single: one process with every role on PostgreSQL. Blobs: one folder shared by the
processes (default) or s3rver. One client keeps a WebSocket open; jobs (the bench's 128x128 CT
image) are submitted one at a time, the next GAP ms after the previous result. Latency = from
writing the POST to reading the result event. The job's server timestamps split it into
POST -> started (queue hand-off to a worker), started -> finished (the worker's job) and
finished -> event received (outcome commit, results consumer, push)."""
import argparse
import asyncio
import json
import os
import statistics
import time

import websockets

import cluster
from cluster import Http, Imgpipe, log


class AsyncHttp:
    """One keep-alive HTTP/1.1 connection on asyncio streams (never blocks the loop)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post_json(self, path, obj):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = json.dumps(obj).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                          .encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while True:
            line = (await self.reader.readline()).strip()
            if not line:
                break
            k, _, v = line.decode().partition(":")
            if k.lower() == "content-length":
                length = int(v)
        data = await self.reader.readexactly(length)
        return status, json.loads(data) if data else None


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


async def measure(args, api, ids, client):
    study, series, image = ids
    http = AsyncHttp(api.host, api.port)
    url = f"ws://{api.host}:{api.port}/ws?client_id={client}"
    samples = []
    async with websockets.connect(url, max_size=None) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        for i in range(args.warmup + args.n):
            body = {"study_id": study, "series_id": series, "image_id": image, "scope": "image",
                    "client_id": client, "params": {}}
            wall0, t0 = time.time(), time.perf_counter()
            status, reply = await http.post_json(f"/api/process/{args.algorithm}", body)
            t_post = time.perf_counter()
            if status != 202:
                raise RuntimeError(f"submit: {status} {reply}")
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if event.get("type") == "result" and event.get("job_id") == reply["job_id"]:
                    break
            t1 = time.perf_counter()
            if event["status"] != "succeeded":
                raise RuntimeError(f"job failed: {event}")
            if i >= args.warmup:
                samples.append({"job_id": reply["job_id"], "wall0_ms": wall0 * 1000,
                                "post_ms": (t_post - t0) * 1000, "total_ms": (t1 - t0) * 1000,
                                "wall1_ms": wall0 * 1000 + (t1 - t0) * 1000})
            await asyncio.sleep(args.gap_ms / 1000)
    http.writer.close()
    return samples


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.environ.get("IMGPIPE_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "src", "app", "imgpipe")))
    p.add_argument("-n", type=int, default=500)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--algorithm", default="window_level")
    p.add_argument("--gap-ms", type=float, default=20)
    p.add_argument("--layout", choices=("split", "single"), default="split")
    p.add_argument("--blobs", choices=("folder", "s3"), default="folder")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--out", default="")
    p.add_argument("--quiet-load", type=float, default=0,
                   help="before each run, wait (up to 10 min) for the 1-min load below this")
    args = p.parse_args()

    load_before = cluster.wait_quiet(args.quiet_load, 600) if args.quiet_load else \
        cluster.loadavg()
    log(f"== latency: {args.layout}, blobs={args.blobs}, load {load_before}")
    tmp = cluster.tempdir("imgpipe-bench-latency-")
    pg = cluster.start_pg()
    env = {"IMGPIPE_LOG_LEVEL": "warn"}
    common = ["--database-url", pg.url]
    if args.blobs == "s3":
        s3 = cluster.S3rver()
        env.update(cluster.S3_ENV)
        common += ["--blob-url", f"s3://{cluster.BUCKET}/bench", "--blob-s3-endpoint", s3.endpoint]
    else:
        common += ["--data-dir", cluster.tempdir("imgpipe-bench-blobs-")]
    worker_args = ["--algorithms", args.algorithm, "--concurrency", str(args.concurrency)]
    if args.layout == "split":
        api = Imgpipe(args.bin, ["--roles", "api,push", *common], env, "api")
        Imgpipe(args.bin, ["--roles", "worker", *worker_args, *common], env, "worker")
    else:
        api = Imgpipe(args.bin, ["--roles", "api,worker,push", *worker_args, *common], env, "all")
    conn = Http(api.host, api.port)
    ids = cluster.upload_ct(conn, tmp)
    client = conn.json("POST", "/api/provision", expect=(201,))["client_id"]
    samples = asyncio.run(measure(args, api, ids, client))

    jobs = {j["job_id"]: j for j in conn.json("GET", f"/api/jobs?client_id={client}&limit=1000")
            ["jobs"]}
    for s in samples:
        j = jobs[s["job_id"]]
        s["to_started_ms"] = j["started_at_ms"] - s["wall0_ms"]
        s["in_worker_ms"] = j["finished_at_ms"] - j["started_at_ms"]
        s["duration_ms"] = j["duration_ms"]
        s["finished_to_event_ms"] = s["wall1_ms"] - j["finished_at_ms"]
    if args.out:
        with open(args.out, "w") as f:
            json.dump(samples, f)

    def row(name, key, target=""):
        v = [s[key] for s in samples]
        return (f"| {name} | {statistics.median(v):.2f} | {pct(v, 90):.2f} | {pct(v, 99):.2f} "
                f"| {max(v):.2f} | {target} |")
    print(f"Latency, {len(samples)} jobs of `{args.algorithm}` one at a time ({args.gap_ms:g} ms "
          f"apart), layout {args.layout}, blobs {args.blobs}, load before {load_before}, "
          f"after {cluster.loadavg()}:\n")
    print("| ms | p50 | p90 | p99 | max | target |")
    print("|---|---:|---:|---:|---:|---|")
    print(row("**POST -> result event (end to end)**", "total_ms", "p50 < 10, p99 < 40"))
    print(row("POST round trip (202 received)", "post_ms"))
    print(row("POST sent -> job started (server clock, ms granularity)", "to_started_ms"))
    print(row("started -> finished (worker)", "in_worker_ms"))
    print(row("of which the run (duration_ms)", "duration_ms"))
    print(row("finished -> event received", "finished_to_event_ms"))


if __name__ == "__main__":
    main()
