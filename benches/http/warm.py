#!/usr/bin/env python3
"""Feeds a JSONL file of events to POST /v1/events in batches, over one
keep-alive connection, so a running `palisade serve` warms its profiles.

usage: warm.py URL KEY FILE [BATCH]
"""
import http.client
import sys
import time
import urllib.parse


def main():
    url, key, path = sys.argv[1], sys.argv[2], sys.argv[3]
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    sent, started, lines = 0, time.time(), []

    def flush():
        nonlocal sent, lines
        if not lines:
            return
        body = ("[" + ",".join(lines) + "]").encode()
        for attempt in range(50):
            conn.request("POST", "/v1/events", body, headers)
            r = conn.getresponse()
            text = r.read()
            if r.status == 202:
                break
            if r.status == 503:  # the engine is behind: back off, resend
                time.sleep(0.2)
                continue
            sys.exit(f"POST /v1/events answered {r.status}: {text[:300]!r}")
        else:
            sys.exit("the server stayed overloaded")
        sent += len(lines)
        lines = []

    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                lines.append(line)
            if len(lines) >= batch:
                flush()
    flush()
    took = time.time() - started
    print(f"warmed with {sent} events in {took:.1f} s ({sent / took:.0f} events/s)")


if __name__ == "__main__":
    main()
