#!/usr/bin/env python3
"""Events for the memory bound test (issue 6), JSONL on stdout, in time order:

1. the legitimate users' history (a `palisade simulate` file, given), then
2. a password spray: N failed sign-ins, each from its own address and for its
   own unknown username, trying one of 100 common passwords, then
3. the legitimate users again: one attempt each from their usual address and
   device (the last success seen for them in the history), and
4. 10,000 more spray attempts, to see whether the attack is still stopped.

usage: spray.py HISTORY.jsonl N > events.jsonl
"""
import hashlib
import json
import sys

history, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout
last = {}
last_time = None
with open(history) as f:
    for line in f:
        out.write(line)
        e = json.loads(line)
        last_time = e["timestamp"]
        if e["outcome"] == "success" and e.get("label") == "legit":
            last[e["user"]] = e

# Times after the history: 2026-02-01 onwards, a millisecond apart.
def at(ms):
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    return "2026-02-%02dT%02d:%02d:%02d.%03dZ" % (1 + d, h, m, s, ms)

passwords = [hashlib.sha1(b"Spring2026!%d" % i).hexdigest().upper() for i in range(100)]
agent = "Mozilla/5.0 (X11; Linux x86_64) python-requests/2.31"
t = 0
def spray(i, outcome, tag):
    ip = "%d.%d.%d.%d" % (11 + (i >> 24) % 100, (i >> 16) & 255, (i >> 8) & 255, 1 + i % 250)
    return ('{"event_id":"%s%d","timestamp":"%s","kind":"sign_in","user":"victim%d@example.org",'
            '"user_exists":false,"ip":"%s","outcome":"%s","failure_reason":"bad_password",'
            '"user_agent":"%s","password_sha1":"%s","label":"password_spray"}\n'
            % (tag, i, at(t), i, ip, outcome, agent, passwords[i % 100]))

for i in range(n):
    out.write(spray(i, "failure", "spray"))
    t += 1
for user, e in last.items():
    probe = dict(e, event_id="legit-" + e["event_id"], timestamp=at(t), outcome="attempt")
    probe.pop("failure_reason", None)
    out.write(json.dumps(probe) + "\n")
    t += 1
for i in range(n, n + 10000):
    out.write(spray(i, "attempt", "late").replace(',"failure_reason":"bad_password"', ""))
    t += 1
