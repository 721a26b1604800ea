#!/usr/bin/env python3
"""Overload with large batches (issue 16): CONNECTIONS clients at once, each
posting one batch of about 4 MB (up to 10,000 outcome events, under the
default max_batch_bytes of 4 MiB) to `POST /v1/events`
of a fresh `palisade serve`. Prints every status code seen, the server's peak
resident memory (sampled every 20 ms, and VmHWM at the end) and its memory
after the run.

usage: overload.py PALISADE_BINARY EVENTS.jsonl WORKDIR [CONNECTIONS]
"""
import collections
import datetime
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

KEY = "overload-test-key-0123456789abcdef"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    binary, events_path, work = (os.path.abspath(a) for a in sys.argv[1:4])
    connections = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    os.makedirs(work, exist_ok=True)
    # Every event dated now: one batch's span must not make another's late.
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = []
    with open(events_path) as f:
        for line in f:
            e = json.loads(line)
            if e["outcome"] == "attempt":
                continue
            e["timestamp"] = now
            base.append(e)
            if len(base) == 10_000:
                break

    def batch(i):
        # As many events as fit under the default max_batch_bytes (4 MiB).
        out, size = [], 2
        for e in base:
            e = dict(e, event_id=f"c{i}-{e['event_id']}")
            line = json.dumps(e, separators=(",", ":"))
            size += len(line) + 1
            if size > 4 << 20:
                break
            out.append(line)
        return ("[" + ",".join(out) + "]").encode()

    bodies = [batch(i) for i in range(connections)]
    port = free_port()
    log = open(os.path.join(work, "serve.log"), "w")
    proc = subprocess.Popen(
        [binary, "--data-dir", os.path.join(work, "data"), "serve",
         "--listen", f"127.0.0.1:{port}"],
        stderr=log, env=dict(os.environ, PALISADE_API_KEYS=KEY), cwd=work)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.05)
    before = rss_kib(proc.pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(proc.pid))
            time.sleep(0.02)

    statuses = collections.Counter()
    lock = threading.Lock()
    start = threading.Barrier(connections)

    def client(i):
        start.wait()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            c.request("POST", "/v1/events", bodies[i],
                      {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            code = r.status
        except OSError as e:
            code = f"error {type(e).__name__}"
        with lock:
            statuses[code] += 1

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    done.set()
    sampler.join()
    hwm = rss_kib(proc.pid, "VmHWM")
    time.sleep(2)
    after = rss_kib(proc.pid)
    proc.terminate()
    proc.wait()
    mib = lambda k: k / 1024
    print(f"{connections} clients x {len(bodies[0]) / 1e6:.1f} MB batches in {elapsed:.1f} s")
    print("statuses:", dict(sorted(statuses.items(), key=str)))
    print(f"server RSS: {mib(before):.0f} MiB before, peak {mib(max(peak[0], hwm)):.0f} MiB "
          f"(VmHWM {mib(hwm):.0f}), {mib(after):.0f} MiB 2 s after")


if __name__ == "__main__":
    main()
