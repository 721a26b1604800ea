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


# brute_force: 10 consecutive failures for one user from one IP block that
# user+IP (the model's failure evidence steps up at the 6th and blocks at the
# 9th, earlier, but publishes no user+IP block); the lockout locks the account
# at the 10th too, so another address is refused as well. A success of the
# user from the address starts the rule's count over, and the evidence's: the
# failures before it were typos, for the address too.
evs = [ev(f"bf{i}", i * 30, "victim@example.com", "198.51.100.10", "failure", "bad_password", password_sha1=sha1(f"guess{i}")) for i in range(1, 11)]
evs.append(ev("bf11", 330, "victim@example.com", "198.51.100.10", "attempt"))
evs.append(ev("bf12", 340, "victim@example.com", "192.0.2.99", "attempt"))
for i in range(1, 6):
    evs.append(ev(f"rs{i}", 400 + i * 30, "typo@example.com", "203.0.113.20", "failure", "bad_password"))
evs.append(ev("rs-ok", 580, "typo@example.com", "203.0.113.20", "success", mfa="passed"))
for i in range(1, 6):
    evs.append(ev(f"rs-again{i}", 580 + i * 30, "typo@example.com", "203.0.113.20", "failure", "bad_password"))
write("brute_force", evs, [
    {"event_id": "bf5", "action": "allow", "reasons": ["failures_user_ip"], "absent": ["brute_force"]},
    {"event_id": "bf6", "action": "challenge", "reasons": ["failures_user_ip"], "absent": ["brute_force"]},
    {"event_id": "bf9", "action": "block", "reasons": ["failures_user_ip"], "absent": ["brute_force"]},
    {"event_id": "bf10", "action": "block", "reasons": ["brute_force", "user_lockout"]},
    {"event_id": "bf11", "action": "block", "reasons": ["brute_force"]},
    {"event_id": "bf12", "action": "block", "reasons": ["user_lockout"], "absent": ["brute_force", "failures_user_ip"]},
    {"event_id": "rs-ok", "action": "challenge", "reasons": ["failures_user_ip"]},
    {"event_id": "rs-again1", "action": "allow", "absent": ["failures_user_ip", "brute_force"]},
    {"event_id": "rs-again5", "action": "allow", "reasons": ["failures_user_ip"], "absent": ["brute_force", "failures_ip"]},
])

# ip_velocity_high: the 21st failure from one IP in a burst blocks the IP for
# 15 minutes (the failure evidence and user_enumeration block far sooner).
# Successes do not count: an office or a carrier's NAT signing 40 people in
# within a minute and a half is no attack.
evs = [ev(f"h{i}", i, f"user{i}@example.com", "198.51.100.31", "failure", "bad_password") for i in range(1, 22)]
evs.append(ev("h-attempt", 30, "someone@example.com", "198.51.100.31", "attempt"))
evs.append(ev("h-after", 30 + 16 * 60, "someone@example.com", "198.51.100.31", "attempt"))
evs += [ev(f"nat{i}", 2000 + i * 2, f"commuter{i}@example.com", "192.0.2.32", "success") for i in range(1, 41)]
write("ip_velocity_high", evs, [
    {"event_id": "h20", "action": "block", "absent": ["ip_velocity_high"]},
    {"event_id": "h21", "action": "block", "reasons": ["ip_velocity_high"]},
    {"event_id": "h-attempt", "action": "block", "reasons": ["ip_velocity_high"]},
    {"event_id": "h-after", "absent": ["ip_velocity_high"]},
    {"event_id": "nat40", "action": "allow", "absent": ["ip_velocity_high"]},
])

# user_enumeration: failures for 8 different usernames from one IP; retries of
# recent usernames (among the last four counted) do not count.
evs = [ev(f"u{i}", i * 5, f"guess{i}@example.com", "198.51.100.40", "failure", "unknown_user", user_exists=False) for i in range(1, 8)]
evs += [ev(f"u-repeat{i}", 40 + i * 5, f"guess{8 - i % 2 - 1}@example.com", "198.51.100.40", "failure", "unknown_user", user_exists=False) for i in range(1, 4)]
evs.append(ev("u8", 60, "guess8@example.com", "198.51.100.40", "failure", "unknown_user", user_exists=False))
write("user_enumeration", evs, [
    {"event_id": "u-repeat3", "absent": ["user_enumeration"]},
    {"event_id": "u8", "action": "block", "reasons": ["user_enumeration"]},
])

# password_spray: one password failing for 10 accounts from 10 addresses in 10
# networks; then anyone signing in with it is challenged.
pw = sha1("Winter2026!")
evs = [ev(f"s{i}", i * 20, f"staff{i}@example.com", f"45.{i}.0.50", "failure", "bad_password", password_sha1=pw) for i in range(1, 11)]
evs.append(ev("s-other", 230, "boss@example.com", "198.51.100.70", "attempt", password_sha1=pw))
evs.append(ev("s-different", 231, "boss@example.com", "198.51.100.70", "attempt", password_sha1=sha1("correct horse")))
write("password_spray", evs, [
    {"event_id": "s9", "action": "allow", "absent": ["password_spray"]},
    {"event_id": "s10", "action": "challenge", "reasons": ["password_spray"]},
    {"event_id": "s-other", "action": "challenge", "reasons": ["password_spray"]},
    {"event_id": "s-different", "action": "allow", "absent": ["password_spray"]},
])

# slow_brute_force: one account failing from 10 addresses in 10 networks,
# minutes apart; the lockout locks it at the 10th failure too.
evs = [ev(f"sl{i}", i * 180, "ceo@example.com", f"46.{i}.0.7", "failure", "bad_password") for i in range(1, 11)]
write("slow_brute_force", evs, [
    {"event_id": "sl9", "action": "allow", "absent": ["slow_brute_force", "user_lockout"]},
    {"event_id": "sl10", "action": "block", "reasons": ["slow_brute_force", "user_lockout"]},
])

# network_velocity: 30 failures from 30 addresses of one /24 in 15 seconds.
evs = [ev(f"n{i}", i * 0.5, f"member{i}@example.com", f"192.0.2.{i}", "failure", "bad_password") for i in range(1, 31)]
write("network_velocity", evs, [
    {"event_id": "n29", "action": "challenge", "reasons": ["failures_network"], "absent": ["network_velocity"]},
    {"event_id": "n30", "action": "block", "reasons": ["network_velocity"]},
])

# asn_velocity: 100 failures from 100 networks of one ASN within a second (needs MaxMind's
# GeoLite2-ASN test database; the test SKIPs without it). The ASN's failure
# evidence adds to the rule's signal: together they step up.
evs = [ev(f"a{i}", i * 0.01, f"member{i}@example.com", f"1.128.{i}.1", "failure", "bad_password") for i in range(1, 101)]
write("asn_velocity", evs, [
    {"event_id": "a99", "action": "allow", "absent": ["asn_velocity"]},
    {"event_id": "a100", "action": "challenge", "reasons": ["asn_velocity", "failures_asn"]},
], config='[geoip]\nasn = "../shared/data/geo/maxmind-test/GeoLite2-ASN-Test.mmdb"\n')

# user_lockout: Keycloak's algorithm, owner-aware. 10 failures from 10
# networks lock the account; two failures within a second lock it for a
# minute. The owner's known device on a known network is spared: failures
# sent from elsewhere cannot lock the owner out, unless the owner's own
# context keeps failing (5 failures in 10 minutes).
evs = [ev(f"l{i}", i * 5, "admin@example.com", f"47.{i}.0.9", "failure", "bad_password") for i in range(1, 11)]
evs.append(ev("l-attempt", 60, "admin@example.com", "198.51.100.200", "attempt"))
evs.append(ev("q1", 200, "fast@example.com", "198.51.100.201", "failure", "bad_password"))
evs.append(ev("q2", 200.5, "fast@example.com", "198.51.100.201", "failure", "bad_password"))
evs.append(ev("q-later", 270, "fast@example.com", "198.51.100.201", "attempt"))
LAPTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
own = dict(user_agent=LAPTOP, device_id="owner-laptop")
evs = [ev(f"o{d}", d * 86400 - 5 * 86400 + 9 * 3600, "owner@example.com", "81.2.69.30", "success", **own) for d in range(5)] + evs
T = 8 * 3600
evs.append(ev("abuse1", T, "owner@example.com", "203.0.113.66", "failure", "bad_password"))
evs.append(ev("abuse2", T + 0.3, "owner@example.com", "203.0.113.66", "failure", "bad_password"))
evs.append(ev("owner-in", T + 10, "owner@example.com", "81.2.69.31", "attempt", **own))
evs.append(ev("owner-ok", T + 12, "owner@example.com", "81.2.69.31", "success", **own))
evs.append(ev("abuse-again", T + 20, "owner@example.com", "203.0.113.66", "attempt"))
for i in range(1, 6):
    evs.append(ev(f"own-fail{i}", T + 20 + i * 6, "owner@example.com", "81.2.69.31", "failure", "bad_password", **own))
evs.append(ev("own-failing", T + 56, "owner@example.com", "81.2.69.31", "attempt", **own))
evs.sort(key=lambda e: e["timestamp"])
write("user_lockout", evs, [
    {"event_id": "l9", "absent": ["user_lockout"]},
    {"event_id": "l10", "action": "block", "reasons": ["user_lockout"]},
    {"event_id": "l-attempt", "action": "block", "reasons": ["user_lockout"]},
    {"event_id": "q2", "action": "block", "reasons": ["user_lockout"]},
    {"event_id": "q-later", "action": "allow", "absent": ["user_lockout"]},
    {"event_id": "abuse2", "action": "block", "reasons": ["user_lockout"]},
    {"event_id": "owner-in", "action": "allow", "reasons": ["user_lockout"]},
    {"event_id": "owner-ok", "action": "allow", "reasons": ["user_lockout"]},
    {"event_id": "abuse-again", "action": "block", "reasons": ["user_lockout"]},
    {"event_id": "own-fail4", "action": "allow", "reasons": ["user_lockout"]},
    {"event_id": "own-failing", "action": "block", "reasons": ["user_lockout"]},
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

# failure_evidence: the model's graded evidence from failed sign-ins. One user
# from one address failing every 20 s, with every kind of reason (none, an
# unknown user, MFA) counting: a failure is evidence against the sign-ins
# after it, so the 5th (4 before it) is allowed, the 6th steps up, the 9th
# blocks, and the block bans the address. An address failing for many names
# counts as one source. An office address signing many people in carries its
# crowd's ordinary typos.
reasons = [None, "bad_password", "unknown_user", "mfa_failed", None, "locked", "bad_password", None, None, None]
evs = [ev(f"e{i}", i * 20, "target@example.com", "198.51.100.80", "failure", reasons[i - 1]) for i in range(1, 11)]
evs += [ev(f"n{i}", 200 + i * 15, f"nobody{i}@example.com", "203.0.113.81", "failure", "unknown_user", user_exists=False) for i in range(1, 7)]
office = []
for i in range(1, 181):
    office.append(ev(f"o{i}", 400 + i * 10, f"staff{i}@example.com", "192.0.2.82", "success"))
    if i % 12 == 0:  # one colleague in twelve mistypes first
        office.append(ev(f"o-typo{i}", 400 + i * 10 - 5, f"staff{i}@example.com", "192.0.2.82", "failure", "bad_password"))
office.sort(key=lambda e: e["timestamp"])
# The first typo opens the address's tally; later successes are credited.
evs += office
write("failure_evidence", evs, [
    {"event_id": "e1", "action": "allow", "absent": ["failures_user_ip", "failures_ip"]},
    {"event_id": "e5", "action": "allow", "reasons": ["failures_user_ip"]},
    {"event_id": "e6", "action": "challenge", "reasons": ["failures_user_ip"]},
    {"event_id": "e8", "action": "challenge", "absent": ["source_banned"]},
    {"event_id": "e9", "action": "block", "reasons": ["failures_user_ip"], "absent": ["source_banned"]},
    {"event_id": "e10", "action": "block", "reasons": ["source_banned"]},
    {"event_id": "n5", "action": "allow", "reasons": ["failures_ip"], "absent": ["failures_user_ip"]},
    {"event_id": "n6", "action": "challenge", "reasons": ["failures_ip"]},
    {"event_id": "o-typo180", "action": "allow", "absent": ["failures_ip", "user_enumeration", "source_banned"]},
    {"event_id": "o180", "action": "allow"},
])

# repeat_offender: an address blocked for its failures is banned (10 minutes),
# and coming back two hours later it starts where it stopped: the ban on its
# record scores from its first failure, and its next ban is twice as long.
evs = [ev(f"r{i}", i * 10, "mark@example.com", "198.51.100.90", "failure", "bad_password") for i in range(1, 11)]
evs.append(ev("r-banned", 11 * 10, "other@example.com", "198.51.100.90", "attempt"))
evs.append(ev("r-after-ban", 20 * 60, "other@example.com", "198.51.100.90", "attempt"))
evs += [ev(f"rb{i}", 3 * 3600 + i * 10, f"mark{i}@example.com", "198.51.100.90", "failure", "bad_password") for i in range(1, 6)]
evs.append(ev("rb-banned", 3 * 3600 + 60 + 15 * 60, "x@example.com", "198.51.100.90", "attempt"))
write("repeat_offender", evs, [
    {"event_id": "r8", "action": "challenge", "absent": ["source_banned"]},
    {"event_id": "r9", "action": "block", "reasons": ["failures_user_ip"], "absent": ["source_banned"]},
    {"event_id": "r10", "action": "block", "reasons": ["source_banned"]},
    {"event_id": "r-banned", "action": "block", "reasons": ["source_banned"]},
    {"event_id": "r-after-ban", "reasons": ["repeat_offender"], "absent": ["source_banned"]},
    {"event_id": "rb1", "reasons": ["repeat_offender"]},
    {"event_id": "rb5", "action": "block", "reasons": ["source_banned"]},
    {"event_id": "rb-banned", "action": "block", "reasons": ["source_banned"]},
])

# novelty_cap: a long-standing user's new phone (new device, network, browser
# and OS at once) is asked for MFA ("if configured"), not blocked; a user
# without MFA gets through it, and the phone is known from then on. After 6
# failures of the account from the same place (evidence against the sign-in,
# more than a user retyping makes), a new device is blocked.
LAPTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
evs = [ev(f"h{d}", d * 86400 + 9 * 3600, "loyal@example.com", "81.2.69.20", "success", user_agent=LAPTOP, device_id="laptop") for d in range(40)]
evs.append(ev("h-phone", 40 * 86400 + 9 * 3600, "loyal@example.com", "2.16.5.7", "success", user_agent=PHONE, device_id="new-phone"))
evs += [ev(f"h-guess{i}", 41 * 86400 + 9 * 3600 + i * 20, "loyal@example.com", "5.8.9.10", "failure", "bad_password", user_agent=PHONE, device_id="bot") for i in range(1, 7)]
evs.append(ev("h-taken", 41 * 86400 + 9 * 3600 + 140, "loyal@example.com", "5.8.9.10", "success", user_agent=PHONE, device_id="bot"))
evs.append(ev("h-phone-again", 41 * 86400 + 8 * 3600, "loyal@example.com", "2.16.5.7", "success", user_agent=PHONE, device_id="new-phone"))
evs.sort(key=lambda e: e["timestamp"])
write("novelty_cap", evs, [
    {"event_id": "h39", "action": "allow", "absent": ["new_device"]},
    {"event_id": "h-phone", "action": "challenge", "reasons": ["new_device", "new_network", "new_browser", "new_os"]},
    {"event_id": "h-phone-again", "action": "allow", "absent": ["new_device"]},
    {"event_id": "h-taken", "action": "block", "reasons": ["new_device", "failures_user_ip"]},
])

# impossible_travel: a user signing in from London, then from the US half an
# hour later, is asked for MFA (required), not blocked: a roaming phone, a VPN
# or a loosely placed address travels impossibly too often. Back in a country
# the user signs in from, nothing is impossible. Needs the GeoLite2 City
# database beside the checkout (the test SKIPs without it).
evs = [ev(f"t{d}", d * 86400 + 9 * 3600, "flyer@example.com", "81.2.69.160", "success", user_agent=LAPTOP, device_id="flyer-laptop") for d in range(3)]
evs.append(ev("t3", 3 * 86400 + 9 * 3600, "flyer@example.com", "81.2.69.160", "success", user_agent=LAPTOP, device_id="flyer-laptop"))
evs.append(ev("t-us", 3 * 86400 + 9 * 3600 + 1800, "flyer@example.com", "8.8.8.8", "success", user_agent=LAPTOP, device_id="flyer-laptop"))
evs.append(ev("t-back", 3 * 86400 + 9 * 3600 + 3600, "flyer@example.com", "81.2.69.160", "success", user_agent=LAPTOP, device_id="flyer-laptop"))
write("impossible_travel", evs, [
    {"event_id": "t2", "action": "allow", "absent": ["impossible_travel"]},
    {"event_id": "t-us", "action": "challenge", "reasons": ["impossible_travel", "new_country"]},
    {"event_id": "t-back", "action": "allow", "absent": ["impossible_travel"]},
], config='[geoip]\ncity = "../shared/data/geo/GeoLite2-City-2018.mmdb"\n')
