#!/usr/bin/env python3
"""Posts a batch of events to POST /v1/events every second, for the tail
bench (scripts/tail-bench): background ingestion beside paced decides.

usage: batches.py URL KEY FILE BATCH SECONDS

The first BATCH * SECONDS lines of FILE are read and encoded into bodies
before the first send, so the feeder itself does little while the decides
are measured. Each event's timestamp becomes the time its batch is sent:
the decides beside them carry none, so the engine's clock is this host's,
and simulated events of another day would be refused as late. Each batch goes at its second (a late one goes at once, and is
counted as late); the answer is read before the next. Prints the batches
sent, how long the server took over them (median and max), and how many
went late.
"""
import datetime
import http.client
import re
import sys
import time
import urllib.parse


STAMP = re.compile(r'"timestamp":"[^"]*"')
PLACEHOLDER = '"timestamp":"@@NOW@@"'


def main():
    url, key, path, batch, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    bodies, lines = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            lines.append(STAMP.sub(PLACEHOLDER, line))
            if len(lines) == batch:
                bodies.append(("[" + ",".join(lines) + "]").encode())
                lines = []
                if len(bodies) == seconds:
                    break
    if len(bodies) < seconds:
        sys.exit(f"batches.py: {path} has events for {len(bodies)} batches of {batch}, {seconds} asked")
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    took, late, refused = [], 0, 0
    start = time.monotonic()
    for i, body in enumerate(bodies):
        due = start + i
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        elif now - due > 0.05:
            late += 1
        sent = time.monotonic()
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
        conn.request("POST", "/v1/events", body.replace(b"@@NOW@@", now), headers)
        r = conn.getresponse()
        text = r.read()
        if r.status != 202:
            refused += 1
            print(f"batches.py: batch {i} answered {r.status}: {text[:200]!r}", file=sys.stderr)
        took.append(time.monotonic() - sent)
    took.sort()
    print(
        f"batches: {len(bodies)} of {batch} events, one a second; server took median "
        f"{took[len(took) // 2] * 1000:.0f} ms, max {took[-1] * 1000:.0f} ms; late {late}, refused {refused}"
    )


if __name__ == "__main__":
    main()
