#!/usr/bin/env python3
"""Writes tests/fixtures/<case>/{events.jsonl,expected.jsonl} for the shipped rules.

The fixtures are committed; this script documents how they were made and
rewrites them when a case changes: python3 scripts/make-fixtures.py
Expected lines are partial: `action` must match exactly, every code in `reasons`
must be among the decision's reasons, no code in `absent` may be.
"""
import datetime
import hashlib
import json
import os

ROOT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
T0 = datetime.datetime(2026, 1, 5, 10, 0, 0, tzinfo=datetime.timezone.utc)


def ts(seconds):
    t = T0 + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def sha1(p):
    return hashlib.sha1(p.encode()).hexdigest().upper()


def ev(eid, at, user, ip, outcome, reason=None, **extra):
    e = {"event_id": eid, "timestamp": ts(at), "kind": "sign_in", "user": user, "ip": ip, "outcome": outcome}
    if reason:
        e["failure_reason"] = reason
    e.update(extra)
    return e


def write(case, events, expected, config=None):
    d = os.path.join(ROOT, case)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "events.jsonl"), "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    with open(os.path.join(d, "expected.jsonl"), "w") as f:
        for x in expected:
            f.write(json.dumps(x) + "\n")
    if config:
        with open(os.path.join(d, "config.toml"), "w") as f:
            f.write(config)


# brute_force: 10 consecutive bad passwords for one user from one IP block that
# user+IP; a success in between starts the count over.
evs = [ev(f"bf{i}", i * 30, "victim@example.com", "198.51.100.10", "failure", "bad_password", password_sha1=sha1(f"guess{i}")) for i in range(1, 11)]
evs.append(ev("bf11", 330, "victim@example.com", "198.51.100.10", "attempt"))
evs.append(ev("bf12", 340, "victim@example.com", "198.51.100.99", "attempt"))
for i in range(1, 10):
    evs.append(ev(f"rs{i}", 400 + i * 30, "typo@example.com", "198.51.100.20", "failure", "bad_password"))
evs.append(ev("rs-ok", 700, "typo@example.com", "198.51.100.20", "success"))
for i in range(1, 10):
    evs.append(ev(f"rs-again{i}", 700 + i * 30, "typo@example.com", "198.51.100.20", "failure", "bad_password"))
write("brute_force", evs, [
    {"event_id": "bf9", "action": "allow", "absent": ["brute_force"]},
    {"event_id": "bf10", "action": "block", "reasons": ["brute_force"]},
    {"event_id": "bf11", "action": "block", "reasons": ["brute_force"]},
    {"event_id": "bf12", "action": "allow", "absent": ["brute_force"]},
    {"event_id": "rs-again9", "action": "allow", "absent": ["brute_force"]},
])

# ip_velocity_low: the 11th sign-in from one IP in a burst adds a signal.
evs = [ev(f"v{i}", i * 2, f"user{i}@example.com", "198.51.100.30", "success") for i in range(1, 12)]
write("ip_velocity_low", evs, [
    {"event_id": "v10", "action": "allow", "absent": ["ip_velocity_low"]},
    {"event_id": "v11", "action": "allow", "reasons": ["ip_velocity_low"]},
])

# ip_velocity_high: the 21st blocks the IP, and later attempts from it.
evs = [ev(f"h{i}", i, f"user{i}@example.com", "198.51.100.31", "success") for i in range(1, 22)]
evs.append(ev("h-attempt", 30, "someone@example.com", "198.51.100.31", "attempt"))
evs.append(ev("h-after", 30 + 16 * 60, "someone@example.com", "198.51.100.31", "attempt"))
write("ip_velocity_high", evs, [
    {"event_id": "h20", "action": "allow", "absent": ["ip_velocity_high"]},
    {"event_id": "h21", "action": "block", "reasons": ["ip_velocity_high", "ip_velocity_low"]},
    {"event_id": "h-attempt", "action": "block", "reasons": ["ip_velocity_high"]},
    {"event_id": "h-after", "action": "allow", "absent": ["ip_velocity_high"]},
])

# user_enumeration: failures for 8 different usernames from one IP; retries of
# recent usernames (among the last four counted) do not count.
evs = [ev(f"u{i}", i * 5, f"guess{i}@example.com", "198.51.100.40", "failure", "unknown_user", user_exists=False) for i in range(1, 8)]
evs += [ev(f"u-repeat{i}", 40 + i * 5, f"guess{8 - i % 2 - 1}@example.com", "198.51.100.40", "failure", "unknown_user", user_exists=False) for i in range(1, 4)]
evs.append(ev("u8", 60, "guess8@example.com", "198.51.100.40", "failure", "unknown_user", user_exists=False))
write("user_enumeration", evs, [
    {"event_id": "u-repeat3", "action": "allow", "absent": ["user_enumeration"]},
    {"event_id": "u8", "action": "block", "reasons": ["user_enumeration"]},
])

# password_spray: one password failing for 10 accounts from 10 addresses; then
# anyone signing in with it is challenged.
pw = sha1("Winter2026!")
evs = [ev(f"s{i}", i * 20, f"staff{i}@example.com", f"198.51.100.{50 + i}", "failure", "bad_password", password_sha1=pw) for i in range(1, 11)]
evs.append(ev("s-other", 230, "boss@example.com", "198.51.100.70", "attempt", password_sha1=pw))
evs.append(ev("s-different", 231, "boss@example.com", "198.51.100.70", "attempt", password_sha1=sha1("correct horse")))
write("password_spray", evs, [
    {"event_id": "s9", "action": "allow", "absent": ["password_spray"]},
    {"event_id": "s10", "action": "challenge", "reasons": ["password_spray"]},
    {"event_id": "s-other", "action": "challenge", "reasons": ["password_spray"]},
    {"event_id": "s-different", "action": "allow", "absent": ["password_spray"]},
])

# slow_brute_force: one account failing from 10 addresses, minutes apart.
evs = [ev(f"sl{i}", i * 180, "ceo@example.com", f"203.0.113.{i}", "failure", "bad_password") for i in range(1, 11)]
write("slow_brute_force", evs, [
    {"event_id": "sl9", "action": "allow", "absent": ["slow_brute_force"]},
    {"event_id": "sl10", "action": "challenge", "reasons": ["slow_brute_force"]},
])

# network_velocity: 30 failures from 30 addresses of one /24 in 15 seconds.
evs = [ev(f"n{i}", i * 0.5, f"member{i}@example.com", f"192.0.2.{i}", "failure", "bad_password") for i in range(1, 31)]
write("network_velocity", evs, [
    {"event_id": "n29", "action": "allow", "absent": ["network_velocity"]},
    {"event_id": "n30", "action": "block", "reasons": ["network_velocity"]},
])

# asn_velocity: 100 failures from 100 networks of one ASN within a second (needs MaxMind's
# GeoLite2-ASN test database; the test SKIPs without it).
evs = [ev(f"a{i}", i * 0.01, f"member{i}@example.com", f"1.128.{i}.1", "failure", "bad_password") for i in range(1, 101)]
write("asn_velocity", evs, [
    {"event_id": "a99", "action": "allow", "absent": ["asn_velocity"]},
    {"event_id": "a100", "action": "allow", "reasons": ["asn_velocity"]},
], config='[geoip]\nasn = "../shared/data/geo/maxmind-test/GeoLite2-ASN-Test.mmdb"\n')

# user_lockout: Keycloak's detector. 30 failures lock the account; two failures
# within a second lock another for a minute.
evs = [ev(f"l{i}", i * 5, "admin@example.com", f"203.0.113.{100 + i}", "failure", "bad_password") for i in range(1, 31)]
evs.append(ev("l-attempt", 160, "admin@example.com", "198.51.100.200", "attempt"))
evs.append(ev("q1", 200, "fast@example.com", "198.51.100.201", "failure", "bad_password"))
evs.append(ev("q2", 200.5, "fast@example.com", "198.51.100.201", "failure", "bad_password"))
evs.append(ev("q-later", 270, "fast@example.com", "198.51.100.201", "attempt"))
write("user_lockout", evs, [
    {"event_id": "l29", "absent": ["user_lockout"]},
    {"event_id": "l30", "action": "block", "reasons": ["user_lockout"]},
    {"event_id": "l-attempt", "action": "block", "reasons": ["user_lockout"]},
    {"event_id": "q2", "action": "block", "reasons": ["user_lockout"]},
    {"event_id": "q-later", "action": "allow", "absent": ["user_lockout"]},
])

# ip lists: a deny-listed address is blocked; an allow-listed one skips detection.
evs = [ev("deny1", 1, "a@example.com", "198.51.100.250", "attempt"),
       ev("allow1", 2, "a@example.com", "10.1.2.3", "attempt")]
evs += [ev(f"allow-f{i}", 2 + i, f"x{i}@example.com", "10.1.2.3", "failure", "unknown_user") for i in range(1, 12)]
write("ip_lists", evs, [
    {"event_id": "deny1", "action": "block", "reasons": ["ip_denylisted"]},
    {"event_id": "allow1", "action": "allow", "reasons": ["ip_allowlisted"]},
    {"event_id": "allow-f11", "action": "allow", "reasons": ["ip_allowlisted"], "absent": ["user_enumeration"]},
], config='[ip_lists]\ndeny = ["198.51.100.248/29"]\nallow = ["10.0.0.0/8"]\n')

# audit mode: the same brute force, computed and explained but not enforced.
evs = [ev(f"ab{i}", i * 30, "victim@example.com", "198.51.100.10", "failure", "bad_password") for i in range(1, 11)]
write("audit_mode", evs, [
    {"event_id": "ab10", "action": "allow", "reasons": ["brute_force"], "enforced": False, "audit_action": "block"},
], config='mode = "audit"\n')

# Profiles: only successes teach. Five successes from one device and network
# make them familiar; failures from another device teach nothing, so its
# first success is still a new device; an hour far from every known one is
# unusual.
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
evs = [ev(f"p{d}", d * 86400 + 9 * 3600, "habit@example.com", "81.2.69.10", "success", user_agent=UA, device_id="laptop") for d in range(5)]
evs.append(ev("p-known", 5 * 86400 + 9 * 3600, "habit@example.com", "81.2.69.11", "success", user_agent=UA, device_id="laptop"))
evs += [ev(f"p-fail{i}", 5 * 86400 + 10 * 3600 + i * 60, "habit@example.com", "81.2.70.5", "failure", "bad_password", user_agent=UA, device_id="phone") for i in range(3)]
evs.append(ev("p-phone", 5 * 86400 + 10 * 3600 + 600, "habit@example.com", "81.2.70.5", "success", user_agent=UA, device_id="phone"))
evs.append(ev("p-night", 6 * 86400 + 3 * 3600, "habit@example.com", "81.2.69.10", "success", user_agent=UA, device_id="laptop"))
write("profile_learning", evs, [
    {"event_id": "p-known", "action": "allow", "absent": ["new_device", "new_network", "unusual_hour"]},
    {"event_id": "p-phone", "reasons": ["new_device", "new_network"]},
    {"event_id": "p-night", "reasons": ["unusual_hour"], "absent": ["new_device"]},
])
