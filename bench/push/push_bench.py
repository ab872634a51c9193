#!/usr/bin/python3
"""Push benchmark (issue 5): imgpipe's WebSocket push beside a minimal Node `ws` server, same run.

For each server: RSS per idle connection (N idle connections, from several source addresses),
the rate connections open at, and messages/s delivered to 1,000 connections. For imgpipe, the
latency from a result message on the results queue to its receipt by a client.

Messages for imgpipe travel the real path: a result message on the `results` queue (made by
cancelling queued jobs: `DELETE /api/jobs/{id}` commits the job's result message), the results
consumer stores it as an event, the hub hands it to every connection of the client (one client,
many connections: tabs). The peer broadcasts 150-byte messages from memory on request.

The idle connections come from ws_connect (C++, epoll, one thread per process: handshakes only,
so the servers and not the generator set the connection rate); the burst is received by
ws_load.js (Node `ws` clients).

Usage: bench/push/push_bench.py [BUILD_DIR] [IDLE_CONNECTIONS]  (npm install in bench/push and
cmake --build BUILD_DIR --target ws_connect first). PUSH_BENCH_ROUNDS (3): rounds of both
servers, alternating which goes first; the summary gives the medians.
"""
import asyncio
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
IDLE = int(sys.argv[2]) if len(sys.argv) > 2 else 19000
FANOUT = 1000        # connections receiving the burst
EVENTS = 200         # events in the burst (x FANOUT messages)
LOAD_PROCESSES = 4   # client processes (each below the 20,000 open files cap)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def request(host, port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def load(url, n, concurrency, duration_ms, first_source, processes=LOAD_PROCESSES):
    """Runs ws_load.js in `processes` processes, process p from source address
    127.0.0.(first_source + 2p) on; returns the processes (read their lines)."""
    procs = []
    per = n // processes
    for p in range(processes):
        procs.append(subprocess.Popen(
            ["node", os.path.join(HERE, "ws_load.js"), url, str(per), str(concurrency),
             str(duration_ms), str(first_source + p * 2)],
            stdout=subprocess.PIPE, text=True, cwd=HERE))
    return procs


def connect_load(url, n, first_source, hold_ms, processes=2, concurrency=100):
    """Runs ws_connect in `processes` processes, process p from source address
    127.0.0.(first_source + 2p) on; returns the processes (read their first line)."""
    rest = url[len("ws://"):]
    hostport, _, target = rest.partition("/")
    host, port = hostport.split(":")
    binary = os.path.join(BUILD, "bench/push/ws_connect")
    return [subprocess.Popen([binary, host, port, "/" + target, str(n // processes),
                              str(concurrency), str(first_source + p * 2), str(hold_ms)],
                             stdout=subprocess.PIPE, text=True)
            for p in range(processes)]


def first_lines(procs):
    return [json.loads(p.stdout.readline()) for p in procs]


def second_lines(procs):
    out = [json.loads(p.stdout.readline()) for p in procs]
    for p in procs:
        p.wait()
    return out


def measure(name, pid, url, trigger, first_source):
    """first_source: source addresses of this server's load (each server its own): closed
    connections leave their ports in TIME_WAIT for a minute, and a load generator that binds a
    source address then searches past them, which slowed whichever server was measured second
    to a fraction of its connection rate."""
    base = rss_kb(pid)
    procs = connect_load(url, IDLE, first_source, 3000)
    opened = first_lines(procs)
    total = sum(o["opened"] for o in opened)
    failed = sum(o["failed"] for o in opened)
    open_ms = max(o["ms"] for o in opened)
    time.sleep(1.0)
    after = rss_kb(pid)
    for p in procs:
        p.wait()
    per_conn = (after - base) * 1024 / max(total, 1)
    print(f"{name}: {total} idle connections ({failed} failed): RSS {base / 1024:.1f} -> "
          f"{after / 1024:.1f} MiB, {per_conn:.0f} B per connection; opened at "
          f"{total / open_ms * 1000:.0f} connections/s", flush=True)
    time.sleep(2.0)  # let the closes settle
    procs = load(url, FANOUT, 100, 15000, first_source + 2 * LOAD_PROCESSES, processes=2)
    first_lines(procs)
    time.sleep(0.5)
    trigger()
    got = second_lines(procs)
    received = sum(g["received"] for g in got)
    span = max(g["span_ms"] for g in got)
    print(f"{name}: {received} messages to {FANOUT} connections in {span:.0f} ms: "
          f"{received / span * 1000:.0f} messages/s", flush=True)
    return per_conn, total / open_ms * 1000, received / span * 1000


def peer(first_source=20):
    proc = subprocess.Popen(["node", os.path.join(HERE, "ws_peer.js"), "0"],
                            stdout=subprocess.PIPE, text=True, cwd=HERE)
    port = int(proc.stdout.readline().split()[1])
    try:
        return measure("node ws", proc.pid, f"ws://127.0.0.1:{port}/ws",
                       lambda: request("127.0.0.1", port, "POST", f"/broadcast?n={EVENTS}"),
                       first_source=first_source)
    finally:
        proc.kill()
        proc.wait()


def imgpipe(first_source=120, with_latency=True):
    data = tempfile.mkdtemp(prefix="imgpipe-push-bench-")
    # The load generator is one address and few clients, faster than any user: no limits.
    env = dict(os.environ, IMGPIPE_QUEUE_MAX_DEPTH="0", IMGPIPE_LIMITS_SUBMITS_PER_S_PER_CLIENT="0",
               IMGPIPE_LIMITS_SUBMITS_PER_S_PER_ADDRESS="0",
               IMGPIPE_LIMITS_CONNECTS_PER_S_PER_ADDRESS="0",
               IMGPIPE_LIMITS_MAX_ACTIVE_JOBS_PER_CLIENT="0",
               IMGPIPE_LIMITS_MAX_CONNECTIONS_PER_CLIENT="0")
    proc = subprocess.Popen(
        [os.path.join(BUILD, "src/app/imgpipe"), "serve", "--demo", "--roles", "api,push",
         "--listen", "127.0.0.1:0", "--data-dir", data, "--log-level", "warn"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    base = proc.stdout.readline().split()[-1]
    host, port = base[len("http://"):].split(":")
    port = int(port)
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    try:
        status, body = request(host, port, "POST", "/api/provision")
        client = json.loads(body)["client_id"]
        studies = json.loads(request(host, port, "GET", "/pacs/studies?ModalitiesInStudy=CT")[1])
        study = studies["studies"][0]["study_id"]
        job_body = json.dumps({"study_id": study, "scope": "study", "client_id": client})

        def submit():
            status, body = request(host, port, "POST", "/api/process/window_level", job_body,
                                   {"Content-Type": "application/json"})
            assert status == 202, body
            return json.loads(body)["job_id"]

        jobs = [submit() for _ in range(EVENTS)]

        def trigger():
            def cancel(ids):
                conn = http.client.HTTPConnection(host, port, timeout=60)
                for job in ids:
                    conn.request("DELETE", f"/api/jobs/{job}?client_id={client}")
                    conn.getresponse().read()
                conn.close()
            threads = [threading.Thread(target=cancel, args=(jobs[i::8],)) for i in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        result = measure("imgpipe", proc.pid, f"ws://{host}:{port}/ws?client_id={client}",
                         trigger, first_source=first_source)
        if with_latency:
            latency(host, port, client, submit)
        return result
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def latency(host, port, client, submit, rounds=300):
    """Result message committed (DELETE returned) -> received by a WebSocket client."""
    import websockets

    async def run():
        samples_after, samples_before = [], []
        last = json.loads(request(host, port, "GET", f"/api/events?client_id={client}&limit=1")[1])
        async with websockets.connect(f"ws://{host}:{port}/ws?client_id={client}&last_seq="
                                      f"{last['last_seq']}") as ws:
            await ws.recv()  # hello
            conn = http.client.HTTPConnection(host, port, timeout=60)
            for _ in range(rounds + 20):
                job = submit()
                t_before = time.perf_counter()
                conn.request("DELETE", f"/api/jobs/{job}?client_id={client}")
                conn.getresponse().read()
                t_after = time.perf_counter()
                await ws.recv()
                t_got = time.perf_counter()
                samples_after.append((t_got - t_after) * 1000)
                samples_before.append((t_got - t_before) * 1000)
            conn.close()
        return sorted(samples_after[20:]), sorted(samples_before[20:])

    after, before = asyncio.run(run())
    p = lambda v, q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    print(f"imgpipe latency, result committed -> client ({rounds} rounds): p50 "
          f"{p(after, 0.5):.2f} ms, p99 {p(after, 0.99):.2f} ms from the DELETE's response; "
          f"p50 {p(before, 0.5):.2f} ms from its request (includes the durable commit)",
          flush=True)


if __name__ == "__main__":
    os.chdir(os.path.join(HERE, "..", ".."))
    if os.environ.get("PUSH_BENCH_IDLE_ONLY_IMGPIPE"):  # diagnosis: imgpipe alone
        imgpipe()
        sys.exit(0)
    # Rounds alternate which server goes first (the machine's state drifts within a run); each
    # server and round has source addresses of its own (127.0.0.20+40r and 30+40r on).
    rounds = int(os.environ.get("PUSH_BENCH_ROUNDS", "3"))
    got = {"node ws": [], "imgpipe": []}
    for r in range(rounds):
        order = [("node ws", lambda r=r: peer(20 + 40 * r)),
                 ("imgpipe", lambda r=r: imgpipe(30 + 40 * r, with_latency=(r == rounds - 1)))]
        for name, run in (order if r % 2 == 0 else order[::-1]):
            got[name].append(run())
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    med = {name: [median([g[k] for g in runs]) for k in range(3)] for name, runs in got.items()}
    for name, (rss, rate, throughput) in med.items():
        print(f"median of {rounds} rounds, {name}: {rss:.0f} B per idle connection, "
              f"{rate:.0f} connections/s, {throughput:.0f} messages/s")
    n, i = med["node ws"], med["imgpipe"]
    print(f"imgpipe / node ws (medians): RSS per idle connection {i[0] / n[0]:.2f}x, connection "
          f"rate {i[1] / n[1]:.2f}x, push throughput {i[2] / n[2]:.2f}x")
