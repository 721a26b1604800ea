#!/usr/bin/env python3
"""Latency a Python app sees for POST /v1/decide at a modest, paced rate.

Two ways of asking, measured in one run and interleaved in alternating blocks
(500 calls each by default) so that a noisy machine weighs on both alike:

- ``python_raw``: ``http.client.HTTPConnection`` on one keep-alive
  connection, the JSON body built by hand: the floor for Python.
- ``python_client``: ``palisade_client.Client.decide()`` as an app calls it
  (fail open, the default 50 ms budget); a degraded decision is counted.

Calls follow an absolute schedule (call i at start + i / rate, both ways
sharing it), not a sleep after each, so a slow call does not slow the rate.
Each call's latency is time.perf_counter_ns() around it. Every event has its
own event_id; users and addresses cycle through a few hundred of each, so
the engine decides against real profiles and counters.

Prints one JSON line:
  {"python_raw": {"p50_us", "p99_us", "n"}, "python_client": {...}, "degraded": N}

Usage (against a running `palisade serve`, ideally a release build):
  python benches/clients/python_decide.py --url http://127.0.0.1:8080 --key KEY
Needs the client installed (pip install -e clients/python), or run from the
repository, where clients/python is put on the path.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Dict, List

try:
    from palisade_client import Client
except ImportError:  # run from the repository without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
    from palisade_client import Client

USERS = 300
IPS = 200
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def ip_of(k: int) -> str:
    return f"{23 + k % 60}.{(k * 7) % 256}.{(k * 13) % 256}.{1 + k % 250}"


def percentile(sorted_ns: List[int], p: float) -> int:
    """Nearest rank."""
    if not sorted_ns:
        return 0
    return sorted_ns[max(0, math.ceil(p * len(sorted_ns)) - 1)]


def summary(ns: List[int]) -> Dict[str, float]:
    s = sorted(ns)
    return {"p50_us": round(percentile(s, 0.50) / 1000, 1), "p99_us": round(percentile(s, 0.99) / 1000, 1), "n": len(s)}


class Raw:
    """POST /v1/decide over one kept-alive http.client connection."""

    def __init__(self, url: str, key: str):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.path = (u.path.rstrip("/") or "") + "/v1/decide"
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        self.errors = 0

    def decide(self, event_id: str, user: str, ip: str) -> None:
        body = (
            '{"event_id":"'
            + event_id
            + '","kind":"sign_in","user":"'
            + user
            + '","ip":"'
            + ip
            + '","outcome":"attempt","user_agent":"'
            + UA
            + '"}'
        ).encode()
        try:
            self.conn.request("POST", self.path, body, self.headers)
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.status != 200 or b'"action"' not in data:
                self.errors += 1
        except (OSError, http.client.HTTPException):
            self.errors += 1
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("PALISADE_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--key", default=os.environ.get("PALISADE_API_KEY"), help="API key (or $PALISADE_API_KEY)")
    ap.add_argument("--rate", type=float, default=200.0, help="calls per second, both ways together (200)")
    ap.add_argument("--count", type=int, default=5000, help="measured calls of each way (5000)")
    ap.add_argument("--warmup", type=int, default=500, help="calls of each way before measuring (500)")
    ap.add_argument("--block", type=int, default=500, help="calls per block before switching ways (500)")
    args = ap.parse_args()
    if not args.key:
        ap.error("--key is required (or set PALISADE_API_KEY)")
    if args.rate <= 0 or args.count <= 0 or args.block <= 0 or args.warmup < 0:
        ap.error("--rate, --count and --block must be > 0, --warmup >= 0")

    raw = Raw(args.url, args.key)
    errors: List[BaseException] = []
    client = Client(args.url, args.key, on_error=errors.append)  # fail open, 50 ms: as an app uses it
    run = uuid.uuid4().hex[:8]
    lat: Dict[str, List[int]] = {"raw": [], "client": []}
    done = {"raw": 0, "client": 0}
    total = {"raw": args.warmup + args.count, "client": args.warmup + args.count}
    degraded = 0
    interval_ns = int(1e9 / args.rate)
    start = time.perf_counter_ns()
    i = 0
    way = "raw"
    in_block = 0
    while done["raw"] < total["raw"] or done["client"] < total["client"]:
        if done[way] >= total[way] or in_block >= args.block:
            other = "client" if way == "raw" else "raw"
            if done[other] < total[other]:
                way = other
            in_block = 0
        due = start + i * interval_ns
        now = time.perf_counter_ns()
        if due > now:
            wait = (due - now) / 1e9
            if wait > 0.002:
                time.sleep(wait - 0.001)
            while time.perf_counter_ns() < due:
                pass
        event_id = f"bench-{run}-{i}"
        user = f"bench-user-{i % USERS}"
        ip = ip_of(i % IPS)
        if way == "raw":
            t = time.perf_counter_ns()
            raw.decide(event_id, user, ip)
            took = time.perf_counter_ns() - t
        else:
            event = {"event_id": event_id, "kind": "sign_in", "user": user, "ip": ip, "outcome": "attempt", "user_agent": UA}
            t = time.perf_counter_ns()
            d = client.decide(event)
            took = time.perf_counter_ns() - t
            if d["degraded"]:
                degraded += 1
        if done[way] >= args.warmup:
            lat[way].append(took)
        done[way] += 1
        in_block += 1
        i += 1
    client.close(timeout=1)
    if errors:
        print(f"python_decide: {len(errors)} client errors, the first: {errors[0]}", file=sys.stderr)
    if raw.errors:
        print(f"python_decide: {raw.errors} raw calls failed (not a 200 decision)", file=sys.stderr)
    print(json.dumps({"python_raw": summary(lat["raw"]), "python_client": summary(lat["client"]), "degraded": degraded}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
