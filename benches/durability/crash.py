#!/usr/bin/env python3
"""The long crash test (issue 6): the same outcomes posted to a `palisade serve`
that never stops and to one killed with SIGKILL at a random point and
restarted on its data folder; the state gauges and the decisions of later
probe attempts must be equal.

usage: crash.py PALISADE_BINARY EVENTS.jsonl WORKDIR [SEED]
"""
import http.client
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

KEY = "crash-test-key-0123456789abcdef"
BATCH = 2000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Serve:
    def __init__(self, binary, folder):
        self.port = free_port()
        self.log = open(os.path.join(folder, f"serve-{self.port}.log"), "w")
        env = dict(os.environ, PALISADE_API_KEYS=KEY)
        self.proc = subprocess.Popen(
            [binary, "--data-dir", os.path.join(folder, "data"), "serve",
             "--listen", f"127.0.0.1:{self.port}"],
            stderr=self.log, env=env, cwd=folder)
        for _ in range(6000):  # replaying a long journal takes a while
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        sys.exit("palisade serve did not become ready")

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        c.request(method, path, body, {"Authorization": f"Bearer {KEY}",
                                       "Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read().decode()

    def post(self, lines):
        status, text = self.call("POST", "/v1/events", "[" + ",".join(lines) + "]")
        if status != 202:
            sys.exit(f"POST /v1/events: {status} {text[:200]}")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def send_unwaited(port, lines):
    """POSTs a batch and does not read the answer."""
    body = "[" + ",".join(lines) + "]"
    head = ("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (KEY, len(body)))
    try:
        socket.create_connection(("127.0.0.1", port)).sendall((head + body).encode())
    except OSError:
        pass  # killed first: the batch never arrived


def probes(n, last_time):
    for i in range(n):
        yield ('{"event_id":"probe%d","kind":"sign_in","user":"user%d@example.com",'
               '"user_exists":true,"ip":"%d.%d.7.%d","outcome":"attempt","timestamp":"%s"}'
               % (i, i * 7919 % 100000, 20 + i % 50, i % 200, 1 + i % 250, last_time))


def fingerprint(s, last_time):
    decisions = [s.call("POST", "/v1/decide", p)[1] for p in probes(500, last_time)]
    metrics = s.call("GET", "/metrics")[1]
    gauges = sorted(l for l in metrics.splitlines() if l.startswith("palisade_state_entries{"))
    return decisions, gauges


def main():
    binary, path, work = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else int(time.time())
    with open(path) as f:
        lines = [l.strip() for l in f if l.strip()]
    last_time = re.search(r'"timestamp":"([^"]+)"', lines[-1]).group(1)
    batches = [lines[i:i + BATCH] for i in range(0, len(lines), BATCH)]
    rng = random.Random(seed)
    cut = rng.randrange(1, len(batches) - 1)
    print(f"{len(lines)} events in {len(batches)} batches; seed {seed}: kill during batch {cut}")

    os.makedirs(os.path.join(work, "whole"), exist_ok=True)
    os.makedirs(os.path.join(work, "killed"), exist_ok=True)
    t = time.time()
    whole = Serve(binary, os.path.join(work, "whole"))
    for b in batches:
        whole.post(b)
    want = fingerprint(whole, last_time)
    whole.stop()
    print(f"uninterrupted run: {time.time() - t:.1f} s")

    first = Serve(binary, os.path.join(work, "killed"))
    for b in batches[:cut]:
        first.post(b)
    # The next batch goes out and is not waited for; SIGKILL lands while
    # the server works on it.
    sender = threading.Thread(target=send_unwaited, args=(first.port, batches[cut]))
    sender.start()
    time.sleep(rng.uniform(0, 0.05))
    first.kill()
    sender.join()
    t = time.time()
    second = Serve(binary, os.path.join(work, "killed"))
    print(f"restart to ready: {time.time() - t:.2f} s")
    with open(second.log.name) as f:
        print("  " + f.readline().strip()[:400])
    for b in batches[cut:]:  # from the first batch without a 202
        second.post(b)
    got = fingerprint(second, last_time)
    second.stop()
    same_state = got[1] == want[1]
    same_decisions = sum(g == w for g, w in zip(got[0], want[0]))
    print("state gauges equal:", same_state)
    for g, w in zip(got[1], want[1]):
        print(f"  {g}   (uninterrupted: {w.rsplit(' ', 1)[1]})")
    print(f"probe decisions equal: {same_decisions} of {len(want[0])}")
    sys.exit(0 if same_state and same_decisions == len(want[0]) else 1)


if __name__ == "__main__":
    main()
