#!/usr/bin/env python3
"""Detection figures from labelled events and any Palisade's decisions.

    python3 benches/detection/figures.py EVENTS.jsonl DECISIONS.jsonl [--json]

`palisade evaluate` reports these itself (per label, per source, per UTC day,
legitimate users on shared addresses); this script computes the same from a
`palisade replay` output, so a release without those figures (the one before
issue 15) can be measured on the same events, and the two can be checked
against each other. Only `sign_in` outcomes are scored, as in evaluate. In
audit mode the decision's `audit_action` counts.

Definitions (as evaluate's): a source is (label, ip) for every label but
`legit`; it qualifies when it made 5 failures within 10 minutes; "stopped by
the 6th" is of the qualifying sources that made 6 attempts or were stopped
sooner, "blocked by the 10th" likewise; a shared address is one that
legitimate sign-ins of 5 or more distinct users came from.
"""
import json
import sys
from collections import defaultdict


def main():
    events_path, decisions_path = sys.argv[1], sys.argv[2]
    action = {}
    with open(decisions_path) as f:
        for line in f:
            d = json.loads(line)
            action[d["event_id"]] = d.get("audit_action") or d["action"]
    labels = defaultdict(lambda: [0, 0, 0])  # allow, challenge, block
    days = defaultdict(lambda: [0, 0, 0])
    sources = {}
    ip_users = defaultdict(set)
    blocked_at = []
    flagged_users, blocked_users, users = set(), set(), set()
    index = {"allow": 0, "challenge": 1, "block": 2}
    with open(events_path) as f:
        for line in f:
            e = json.loads(line)
            if e.get("kind") != "sign_in" or e["outcome"] == "attempt":
                continue
            a = index[action[e["event_id"]]]
            label = e.get("label", "")
            labels[label][a] += 1
            who = (e.get("tenant") or "") + "/" + e["user"]
            if label == "legit":
                days[e["timestamp"][:10]][a] += 1
                users.add(who)
                ip_users[e["ip"]].add(who)
                if a:
                    flagged_users.add(who)
                if a == 2:
                    blocked_users.add(who)
                    blocked_at.append((who, e["ip"]))
                continue
            s = sources.setdefault((label, e["ip"]), {"n": 0, "fails": [], "allowed": 0, "stop": None, "block": None, "q": False})
            s["n"] += 1
            if e["outcome"] == "failure":
                t = parse_ms(e["timestamp"])
                s["fails"].append(t)
                if len(s["fails"]) >= 5 and t - s["fails"][-5] <= 600_000:
                    s["q"] = True
                s["fails"] = s["fails"][-5:]
            if a == 0:
                s["allowed"] += 1
            if a >= 1 and s["stop"] is None:
                s["stop"] = s["n"]
            if a == 2 and s["block"] is None:
                s["block"] = s["n"]
    shared = {ip for ip, u in ip_users.items() if len(u) >= 5}
    out = {
        "labels": {l: {"events": sum(c), "challenged": c[1] / sum(c), "blocked": c[2] / sum(c), "flagged": (c[1] + c[2]) / sum(c)} for l, c in sorted(labels.items())},
        "days": {d: {"legit": sum(c), "flagged": (c[1] + c[2]) / sum(c), "blocked": c[2] / sum(c)} for d, c in sorted(days.items())},
        "legit_users": {
            "users": len(users),
            "flagged": len(flagged_users),
            "blocked": len(blocked_users),
            "shared_addresses": len(shared),
            "users_on_shared": len({u for ip in shared for u in ip_users[ip]}),
            "blocked_on_shared": len({u for u, ip in blocked_at if ip in shared}),
        },
        "sources": {},
    }
    by_label = defaultdict(list)
    for (label, _), s in sources.items():
        by_label[label].append(s)
    for label, ss in sorted(by_label.items()):
        q = [s for s in ss if s["q"]]
        stop_of = [s for s in q if s["n"] >= 6 or (s["stop"] or 99) <= 6]
        block_of = [s for s in q if s["n"] >= 10 or (s["block"] or 99) <= 10]
        stops = sorted(s["stop"] or float("inf") for s in q)
        attempts = sum(s["n"] for s in ss)
        out["sources"][label] = {
            "sources": len(ss),
            "qualifying": len(q),
            "stopped_by_6th": ratio(sum(1 for s in stop_of if (s["stop"] or 99) <= 6), len(stop_of)),
            "stopped_by_6th_of": len(stop_of),
            "blocked_by_10th": ratio(sum(1 for s in block_of if (s["block"] or 99) <= 10), len(block_of)),
            "blocked_by_10th_of": len(block_of),
            "median_first_stopped": median(stops),
            "let_through": ratio(sum(s["allowed"] for s in ss), attempts),
        }
    if "--json" in sys.argv:
        json.dump(out, sys.stdout, indent=1, default=str)
        print()
        return
    print(f"{'label':<26} {'events':>8} {'flagged':>8} {'blocked':>8}")
    for l, x in out["labels"].items():
        print(f"{l:<26} {x['events']:>8} {x['flagged']:>8.2%} {x['blocked']:>8.3%}")
    print(f"{'label':<26} {'sources':>7} {'qualify':>7} {'stop@6':>8} {'block@10':>9} {'1st stop':>8} {'through':>8}")
    for l, x in out["sources"].items():
        print(f"{l:<26} {x['sources']:>7} {x['qualifying']:>7} {pct(x['stopped_by_6th']):>8} {pct(x['blocked_by_10th']):>9} {str(x['median_first_stopped']):>8} {x['let_through']:>8.2%}")
    flagged = [x["flagged"] for x in out["days"].values()]
    blocked = [x["blocked"] for x in out["days"].values()]
    print(f"legit per day: flagged {min(flagged):.2%} to {max(flagged):.2%}, blocked {min(blocked):.3%} to {max(blocked):.3%}")
    print("legit users:", out["legit_users"])


def parse_ms(ts):
    # 2026-01-05T10:00:30.123Z or without fraction; events here are UTC.
    import datetime
    t = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return int(t.timestamp() * 1000)


def median(values):
    """The middle value (the upper one of an even count), "never" when that
    source was never stopped, None with no values."""
    if not values:
        return None
    m = values[len(values) // 2]
    return "never" if m == float("inf") else m


def ratio(n, d):
    return n / d if d else None


def pct(x):
    return "-" if x is None else f"{x:.1%}"


if __name__ == "__main__":
    main()
