#!/usr/bin/env python3
"""The README's picture of an attack, from a real run (issue 7).

Feeds a running `palisade serve` with a simulated day of sign-ins, paced so
one simulated hour takes HOUR_SECONDS of wall time, while a real Prometheus
scrapes it every second; then asks Prometheus for the dashboards' key series
over that day and draws them.

usage: attack_chart.py EVENTS.jsonl PALISADE_URL API_KEY PROMETHEUS_URL OUT.png

EVENTS.jsonl: `palisade simulate` output of two days; the first day is posted
at full speed (so users have habits), the second day paced and charted.
"""
import datetime
import json
import sys
import time
import urllib.parse
import urllib.request

HOUR_SECONDS = 4.0
BATCH_SECONDS = 0.25

events_path, palisade, key, prometheus, out = sys.argv[1:6]


def post(batch):
    body = ("[" + ",".join(batch) + "]").encode()
    req = urllib.request.Request(
        palisade + "/v1/events",
        data=body,
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        if r.status != 202:
            raise SystemExit(f"POST /v1/events answered {r.status}")


def ts(line):
    # "timestamp":"2026-01-01T14:03:07Z" -> seconds since the epoch
    i = line.index('"timestamp":"') + 13
    t = line[i : line.index('"', i)]
    return datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()


lines = [l.strip() for l in open(events_path) if l.strip()]
lines.sort(key=ts)


def label_of(line):
    i = line.find('"label":"')
    return line[i + 9 : line.index('"', i + 9)] if i >= 0 else "legit"
day2 = (ts(lines[-1]) // 86400) * 86400
warm = [l for l in lines if ts(l) < day2]
day = [l for l in lines if ts(l) >= day2]
for i in range(0, len(warm), 2000):
    post(warm[i : i + 2000])
print(f"warm-up: {len(warm)} events; now the charted day: {len(day)} events", flush=True)

start = time.time()
i = 0
while i < len(day):
    now = time.time()
    # Everything due by now, in simulated time.
    due = day2 + (now - start) / HOUR_SECONDS * 3600
    j = i
    while j < len(day) and ts(day[j]) <= due:
        j += 1
    if j > i:
        post(day[i:j])
        i = j
    time.sleep(BATCH_SECONDS)
end = time.time()
time.sleep(3)  # two more scrapes


def query_range(expr):
    q = urllib.parse.urlencode(
        {"query": expr, "start": start, "end": end, "step": "1"}
    )
    with urllib.request.urlopen(prometheus + "/api/v1/query_range?" + q) as r:
        answer = json.load(r)
    if answer["status"] != "success":
        raise SystemExit(f"{expr}: {answer}")
    return answer["data"]["result"]


def hours(values):
    return [(float(t) - start) / HOUR_SECONDS for t, _ in values]


import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Rates are per simulated hour: per wall second times the seconds an hour took.
window = "8s"
panels = [
    (
        "Decisions per simulated hour, by action",
        f"sum by (action) (rate(palisade_decisions_total[{window}])) * {HOUR_SECONDS}",
        "action",
    ),
    (
        "Rule overflows per simulated hour, by rule",
        f"sum by (rule) (rate(palisade_rule_overflows_total[{window}])) * {HOUR_SECONDS}",
        "rule",
    ),
    (
        "Enforcements in force, by scope",
        "sum by (scope) (palisade_enforcements_in_force)",
        "scope",
    ),
    (
        "Challenged or blocked although the model scored them low risk (rule-driven), share of all decisions",
        f"sum(rate(palisade_decisions_total{{action!=\"allow\",level=\"low\"}}[{window}])) / sum(rate(palisade_decisions_total[{window}]))",
        None,
    ),
]
fig, axes = plt.subplots(len(panels), 1, figsize=(10, 12), sharex=True)
colours = {"allow": "tab:green", "challenge": "tab:orange", "block": "tab:red"}
for ax, (title, expr, label) in zip(axes, panels):
    series = query_range(expr)
    if not series:
        raise SystemExit(f"no data for {expr}")
    for s in series:
        name = s["metric"].get(label, "") if label else "share"
        values = [float(v) for _, v in s["values"]]
        if label == "scope" and max(values) == 0:
            continue
        ax.plot(hours(s["values"]), values, label=name, color=colours.get(name))
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(alpha=0.3)
    if label:
        ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=5, frameon=False)
    print(f"{title}: {len(series)} series", flush=True)
# The hours with attack traffic, from the simulator's labels (which Palisade
# never sees), shaded on every panel.
# Hours with at least 50 attack events are shaded (a lone takeover or
# impossible-travel sign-in is not a campaign) and named by their main kind.
attack_hours = {}
for l in day:
    kind = label_of(l)
    if kind != "legit":
        h = int((ts(l) - day2) // 3600)
        attack_hours.setdefault(h, {}).setdefault(kind, 0)
        attack_hours[h][kind] += 1
runs = []  # [first hour, last hour, main kind]
for h, kinds in sorted(attack_hours.items()):
    if sum(kinds.values()) < 50:
        continue
    for ax in axes:
        ax.axvspan(h, h + 1, color="grey", alpha=0.15, lw=0)
    main = max(kinds, key=kinds.get).replace("_", " ")
    if runs and runs[-1][1] == h - 1 and runs[-1][2] == main:
        runs[-1][1] = h
    else:
        runs.append([h, h, main])
for first, last, main in runs:
    axes[0].text((first + last + 1) / 2, 0.95, main, transform=axes[0].get_xaxis_transform(),
                 ha="center", va="top", fontsize=8, style="italic")
print("attack events by hour:", {h: k for h, k in sorted(attack_hours.items())})
axes[-1].set_xlabel("simulated hour of the day (shaded: hours with 50 or more attack events, by the simulator's labels, which Palisade never sees)")
axes[-1].set_xlim(0, 24)
axes[-1].set_xticks(range(0, 25, 2))
fig.suptitle("Palisade during a simulated day with attacks: Prometheus queries of a real run", fontsize=11)
fig.tight_layout()
fig.savefig(out, dpi=90)
print(f"wrote {out}")
