"""Tests of palisade_client against a real `palisade serve`.

The server binary is $PALISADE_BIN, else <repo>/target/debug/palisade (the
repo root is $PALISADE_REPO, else found from this file's path); it runs with the repo root as its
working directory (so rules/ and models/ load), on a free port, with a
temporary data folder and a breach corpus built for the test. Its stderr goes
to a file, and the part written during a test is printed at the test's end,
so a failing test shows it. A few tests use a plain socket listener or a tiny
fake HTTP server for what a healthy Palisade never does (hang, answer 503).
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Set

import pytest

from palisade_client import (
    AsyncClient,
    Client,
    InvalidEventError,
    PalisadeError,
    PasswordFieldError,
    enforcement_key,
    password_sha1,
)
from palisade_client._transport import MAX_IDLE_CONNECTIONS

REPO = Path(os.environ.get("PALISADE_REPO") or Path(__file__).resolve().parents[3])
BIN = Path(os.environ.get("PALISADE_BIN") or REPO / "target" / "debug" / "palisade")
KEY = "pytest-key-0123456789abc"  # 24 characters
assert len(KEY) == 24
#: What a timing assertion allows over a budget on a busy machine.
SLACK = 0.25
BREACHED = ["hunter2", "correct horse battery staple", "Tr0ub4dor&3"]
UA_DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
UA_PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)


# -- the server ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One `palisade serve`, stoppable and restartable on the same port and data folder."""

    def __init__(self, tmp: Path, name: str, extra: Optional[List[str]] = None):
        if not BIN.exists():  # the binary may be being rebuilt: give it a moment
            for _ in range(60):
                time.sleep(1)
                if BIN.exists():
                    break
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = tmp / f"{name}-data"
        self.stderr_path = tmp / f"{name}.stderr"
        self.extra = extra or []
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> None:
        args = [str(BIN), "serve", "--listen", f"127.0.0.1:{self.port}", "--api-keys", KEY, "--data-dir", str(self.data_dir)]
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(args + self.extra, cwd=REPO, stdout=err, stderr=err)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"palisade serve exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"palisade serve did not answer /healthz in 60 s:\n{self.stderr()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def stderr(self, offset: int = 0) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_size(self) -> int:
        try:
            return self.stderr_path.stat().st_size
        except FileNotFoundError:
            return 0


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("palisade")
    words = tmp / "breached.txt"
    words.write_text("\n".join(BREACHED) + "\n", encoding="utf-8")
    index = tmp / "breached.idx"
    build = subprocess.run(
        [str(BIN), "pwned", "build", "--input", str(words), "--output", str(index), "--format", "passwords"],
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr.decode()
    s = Server(tmp, "shared", ["--pwned-index", str(index)])
    s.start()
    yield s
    s.stop()
    assert s.proc is not None and s.proc.returncode == 0, f"serve exited {s.proc and s.proc.returncode}:\n{s.stderr()}"


@pytest.fixture(autouse=True)
def server_log(request: pytest.FixtureRequest) -> Iterator[None]:
    """Prints what the shared server wrote to stderr during the test (shown when it fails)."""
    if "server" not in request.fixturenames:
        yield
        return
    srv: Server = request.getfixturevalue("server")
    start = srv.stderr_size()
    yield
    text = srv.stderr(start)
    if text:
        print(f"--- palisade serve stderr during the test ---\n{text}")


@pytest.fixture
def errors() -> List[BaseException]:
    return []


@pytest.fixture
def client(server: Server, errors: List[BaseException]) -> Iterator[Client]:
    # The debug build on a busy machine: a generous budget, so that the
    # assertions are about the engine's answers, not about timing.
    c = Client(server.url, KEY, decide_timeout=2.0, timeout=5.0, on_error=errors.append)
    yield c
    c.close(timeout=5)


# -- helpers ---------------------------------------------------------------------


def fresh() -> Dict[str, str]:
    """A user and a public-looking address no other test uses (own /24 too)."""
    first = random.choice([23, 45, 62, 77, 81, 91, 103, 185])
    ip = f"{first}.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    return {"user": f"u-{uuid.uuid4().hex[:12]}", "ip": ip}


def attempt(who: Dict[str, str], **kw: Any) -> Dict[str, Any]:
    return {"kind": "sign_in", "outcome": "attempt", **who, **kw}


def outcome(who: Dict[str, str], result: str, **kw: Any) -> Dict[str, Any]:
    e: Dict[str, Any] = {"event_id": str(uuid.uuid4()), "kind": "sign_in", "outcome": result, **who}
    if result == "failure":
        e["failure_reason"] = "bad_password"
    e.update(kw)
    return e


def codes(d: Mapping[str, Any]) -> List[str]:
    return [r["code"] for r in d["reasons"]]


def history_ids(c: Client, user: str, **kw: Any) -> List[str]:
    page = c.user_events(user, limit=100, **kw)
    return [e["event"]["event_id"] for e in page["events"]]


class SilentServer:
    """Listens and accepts, and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.conns: List[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)
            self.on_accept(conn)

    def on_accept(self, conn: socket.socket) -> None:
        pass

    def close(self) -> None:
        for c in self.conns:
            c.close()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    s = SilentServer()
    yield s
    s.close()


# -- decide ------------------------------------------------------------------------


def test_decide_allows_a_fresh_user(client: Client) -> None:
    who = fresh()
    d = client.decide(attempt(who))
    assert d["action"] == "allow"
    assert d["degraded"] is False and "error" not in d
    assert d["reasons"] == [] and d["risk_level"] == "low"
    assert d["compromised_password"] is False and d["enforced"] is True
    assert d["rules_version"].startswith("rules-") and d["model_version"]
    assert uuid.UUID(d["event_id"]).version == 4  # filled by the client
    mine = client.decide(attempt(who, event_id="my-own-id-" + who["user"]))
    assert mine["event_id"] == "my-own-id-" + who["user"]
    assert client.stats.degraded == 0


def test_decide_against_a_stopped_server_degrades_per_fail_mode() -> None:
    seen: List[BaseException] = []
    c = Client(f"http://127.0.0.1:{free_port()}", KEY, on_error=seen.append)  # nothing listens there
    try:
        t = time.monotonic()
        d = c.decide(attempt(fresh()))
        assert time.monotonic() - t < 0.05 + SLACK
        assert d["action"] == "allow" and d["degraded"] is True and d["reasons"] == []
        assert "refused" in d["error"].lower() or "connect" in d["error"].lower()
        assert "mfa" not in d

        t = time.monotonic()
        d = c.decide(attempt(fresh()), fail_mode="closed")
        assert time.monotonic() - t < 0.05 + SLACK
        assert d["action"] == "challenge" and d["mfa"] == "required" and d["degraded"] is True

        assert c.stats.degraded == 2
        assert [(e.status, e.code) for e in seen if isinstance(e, PalisadeError)] == [(0, "unreachable")] * 2
        assert c.health() is False
    finally:
        c.close(timeout=1)


def test_decide_against_a_server_that_never_answers_degrades_after_the_timeout(silent: SilentServer) -> None:
    c = Client(silent.url, KEY, fail_mode="closed", on_error=lambda e: None)
    try:
        t = time.monotonic()
        d = c.decide(attempt(fresh()))
        took = time.monotonic() - t
        assert 0.045 <= took < 0.05 + SLACK, took
        assert d["action"] == "challenge" and d["mfa"] == "required" and d["degraded"] is True
        assert "no answer within 50 ms" in d["error"]

        # A per-call budget and mode.
        t = time.monotonic()
        d = c.decide(attempt(fresh()), timeout=0.3, fail_mode="open")
        took = time.monotonic() - t
        assert 0.29 <= took < 0.3 + SLACK, took
        assert d["action"] == "allow" and d["degraded"] is True
        assert silent.accepted >= 1
        assert c.stats.degraded == 2
    finally:
        c.close(timeout=1)


class DripServer(SilentServer):
    """Answers a 200 whose body comes one byte every 20 ms: each read is
    quick, the whole is not. A per-read timeout would wait 2 s."""

    def on_accept(self, conn: socket.socket) -> None:
        threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n")
            for _ in range(100):
                time.sleep(0.02)
                conn.sendall(b" ")
        except OSError:
            pass


def test_the_decide_budget_bounds_the_whole_call_not_each_read() -> None:
    drip = DripServer()
    try:
        c = Client(drip.url, KEY, on_error=lambda e: None)
        t = time.monotonic()
        d = c.decide(attempt(fresh()), timeout=0.1)
        took = time.monotonic() - t
        assert d["degraded"] is True and 0.095 <= took < 0.1 + SLACK, took
        c.close(timeout=1)

        async def main() -> float:
            async with AsyncClient(drip.url, KEY, on_error=lambda e: None) as ac:
                t = time.monotonic()
                d = await ac.decide(attempt(fresh()), timeout=0.1)
                assert d["degraded"] is True
                return time.monotonic() - t

        took = asyncio.run(main())
        assert 0.095 <= took < 0.1 + SLACK, took
    finally:
        drip.close()


def test_wrong_key_raises_401_and_the_key_stays_secret(server: Server) -> None:
    wrong = "wrong-key-ffffffffffffff"
    seen: List[BaseException] = []
    c = Client(server.url, wrong, on_error=seen.append, decide_timeout=2.0)
    try:
        with pytest.raises(PalisadeError) as info:
            c.decide(attempt(fresh()))
        assert info.value.status == 401 and info.value.code == "unauthorized"
        assert wrong not in str(info.value) and wrong not in repr(c) and wrong not in str(c)
        assert c.stats.degraded == 0

        # An outcome refused with 401 is dropped and told, not retried forever.
        c.report(outcome(fresh(), "success"))
        assert c.flush(5)
        assert c.stats.dropped == 1 and c.stats.sent == 0 and c.stats.retries == 0
        assert [(e.status, e.code) for e in seen if isinstance(e, PalisadeError)] == [(401, "unauthorized")]
        assert all(wrong not in str(e) for e in seen)
    finally:
        c.close(timeout=1)


def test_a_password_field_is_refused_before_any_network_call(silent: SilentServer) -> None:
    c = Client(silent.url, KEY)
    try:
        for key in ("password", "Password", "PASSWD", "pwd", "new-password", "user_password", "passphrase"):
            with pytest.raises(PasswordFieldError) as info:
                c.decide(attempt(fresh(), **{key: "hunter2"}))
            assert info.value.field == key and "hunter2" not in str(info.value)
            assert isinstance(info.value, ValueError)
            with pytest.raises(PasswordFieldError):
                c.report(outcome(fresh(), "failure", **{key: "hunter2"}))
            with pytest.raises(PasswordFieldError):
                c.send_events([outcome(fresh(), "failure", **{key: "hunter2"})])
        time.sleep(0.1)
        assert silent.accepted == 0, "nothing may be sent"
        assert c.stats.degraded == 0 and c.pending == 0
    finally:
        c.close(timeout=1)
    assert password_sha1("password") == "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
    assert password_sha1("Zoë") == password_sha1("Zoë".encode()) and len(password_sha1("")) == 40


def test_an_invalid_event_raises_with_the_field(client: Client) -> None:
    with pytest.raises(PalisadeError) as info:
        client.decide(attempt(fresh(), ip="not-an-ip"))
    assert (info.value.status, info.value.code, info.value.field) == (422, "invalid_field", "ip")
    bad = attempt(fresh())
    del bad["kind"]
    with pytest.raises(PalisadeError) as info:
        client.decide(bad)
    assert info.value.status == 422 and info.value.field == "kind"
    with pytest.raises(InvalidEventError):
        client.decide(["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError):
        client.report(attempt(fresh()))  # an attempt is not an outcome
    assert client.stats.degraded == 0


def test_a_new_device_after_ten_successes_is_challenged(client: Client) -> None:
    who = fresh()
    ok = client.send_events([outcome(who, "success", device_id="laptop", user_agent=UA_DESKTOP) for _ in range(10)])
    assert ok["accepted"] == 10 and ok["decided"] == 10
    assert client.decide(attempt(who, device_id="laptop", user_agent=UA_DESKTOP))["action"] == "allow"
    d = client.decide(attempt(who, device_id="phone", user_agent=UA_PHONE))
    assert d["action"] == "challenge" and d["mfa"] in ("if_configured", "required")
    assert "new_device" in codes(d)


# -- outcomes ------------------------------------------------------------------------


def test_reported_failures_arrive_and_then_block(client: Client) -> None:
    who = fresh()
    ids = []
    for _ in range(12):
        e = outcome(who, "failure")
        ids.append(e["event_id"])
        client.report(e)
    assert client.flush(10)
    s = client.stats
    assert (s.sent, s.dropped, s.pending) == (12, 0, 0)
    seen = history_ids(client, who["user"])
    assert set(ids) <= set(seen), "every reported outcome must be in the user's history"
    d = client.decide(attempt(who))
    assert d["action"] == "block"
    assert "failures_user_ip" in codes(d)
    assert {"brute_force", "user_lockout", "source_banned"} & set(codes(d))


def test_reported_outcomes_survive_a_server_restart(tmp_path: Path) -> None:
    srv = Server(tmp_path, "restart")  # no breach corpus
    srv.start()
    seen: List[BaseException] = []
    c = Client(srv.url, KEY, timeout=1.0, on_error=seen.append)
    try:
        who = fresh()
        before = [outcome(who, "failure") for _ in range(2)]
        for e in before:
            c.report(e)
        assert c.flush(10) and c.stats.sent == 2

        srv.stop()
        # A stopped server: decide degrades at once, report never blocks.
        t = time.monotonic()
        assert c.decide(attempt(who))["degraded"] is True
        assert time.monotonic() - t < 0.05 + SLACK
        during = [outcome(who, "failure" if i % 2 else "success") for i in range(5)]
        for e in during:
            t = time.monotonic()
            c.report(e)
            assert time.monotonic() - t < 0.05
        deadline = time.monotonic() + 5
        while c.stats.retries < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert c.stats.retries >= 2, "the worker must be retrying"
        assert c.flush(0.1) is False and c.pending == 5

        srv.start()  # the same port and data folder
        assert c.flush(15), f"not delivered after the restart: {c.stats}\n{srv.stderr()}"
        s = c.stats
        assert (s.sent, s.dropped, s.pending) == (7, 0, 0)
        got = history_ids(c, who["user"])
        assert {e["event_id"] for e in before + during} <= set(got), srv.stderr()
        assert all(isinstance(e, PalisadeError) and e.code == "unreachable" for e in seen if "outcomes not sent" in str(e))

        with pytest.raises(PalisadeError) as info:  # this server has no breach corpus
            c.is_password_breached("hunter2")
        assert (info.value.status, info.value.code) == (404, "no_corpus")
    finally:
        c.close(timeout=2)
        srv.stop()
    assert srv.proc is not None and srv.proc.returncode == 0, srv.stderr()


def test_a_duplicate_is_counted_as_a_duplicate_not_twice(client: Client) -> None:
    who = fresh()
    e = outcome(who, "failure")
    first = client.send_events([e])
    assert (first["accepted"], first["decided"], first["duplicates"]) == (1, 1, 0)
    again = client.send_events([e])
    assert (again["accepted"], again["decided"], again["duplicates"]) == (1, 0, 1)
    client.report(e)
    client.report(dict(e))
    assert client.flush(10)
    assert client.stats.sent == 2 and client.stats.duplicates == 2
    assert history_ids(client, who["user"]).count(e["event_id"]) == 1


def test_a_batch_with_invalid_events_still_delivers_the_others(server: Server, errors: List[BaseException]) -> None:
    # A long linger so that the five outcomes go in one batch.
    c = Client(server.url, KEY, timeout=5.0, outcome_flush_interval=1.0, on_error=errors.append)
    try:
        who = fresh()
        events = [outcome(who, "failure") for _ in range(5)]
        events[1]["ip"] = "not-an-ip"
        events[3]["failure_reason"] = "forgot"
        for e in events:
            c.report(e)
        assert c.flush(10)
        s = c.stats
        assert (s.sent, s.dropped, s.retries) == (3, 2, 0)
        refused = [e for e in errors if isinstance(e, PalisadeError)]
        assert [(e.status, e.field) for e in refused] == [(422, "[1].ip"), (422, "[2].failure_reason")]
        got = set(history_ids(c, who["user"]))
        assert {events[i]["event_id"] for i in (0, 2, 4)} <= got
        assert not {events[i]["event_id"] for i in (1, 3)} & got
    finally:
        c.close(timeout=2)


def test_a_late_delivered_outcome_keeps_the_time_it_was_reported(server: Server) -> None:
    # The worker holds the outcome for 1 s (its linger); the server must see
    # the time of report(), not the time of delivery.
    c = Client(server.url, KEY, timeout=5.0, outcome_flush_interval=1.0)
    try:
        who = fresh()
        e = outcome(who, "failure")
        reported = datetime.now(timezone.utc)
        c.report(e)
        deadline = time.monotonic() + 10
        while c.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        delivered = datetime.now(timezone.utc)
        assert c.stats.sent == 1 and (delivered - reported).total_seconds() >= 0.9
        [stored] = [x["event"] for x in c.user_events(who["user"])["events"] if x["event"]["event_id"] == e["event_id"]]
        at = datetime.fromisoformat(stored["timestamp"].replace("Z", "+00:00"))
        assert abs((at - reported).total_seconds()) < 0.3, (stored["timestamp"], reported, delivered)
        assert "timestamp" not in e, "the caller's dict is not changed"
    finally:
        c.close(timeout=2)


def test_report_never_blocks_and_drops_when_the_queue_is_full() -> None:
    seen: List[BaseException] = []
    c = Client(f"http://127.0.0.1:{free_port()}", KEY, outcome_queue_size=3, outcome_batch_size=1, on_error=seen.append)
    slowest = 0.0
    for _ in range(10):
        t = time.monotonic()
        c.report(outcome(fresh(), "failure"))
        slowest = max(slowest, time.monotonic() - t)
    assert slowest < 0.05
    assert c.stats.dropped == 7 and c.pending == 3
    assert sum(1 for e in seen if isinstance(e, PalisadeError) and e.code == "queue_full") == 7
    t = time.monotonic()
    assert c.close(timeout=0.3) is False
    assert time.monotonic() - t < 0.3 + 1.0
    s = c.stats
    assert (s.dropped, s.sent, s.pending) == (10, 0, 0)
    c.report(outcome(fresh(), "success"))  # after close: dropped, not raised
    assert c.stats.dropped == 11 and seen[-1].code == "closed"  # type: ignore[attr-defined]


def test_close_flushes_and_the_context_manager_closes(server: Server) -> None:
    who = fresh()
    ids = []
    with Client(server.url, KEY, timeout=5.0) as c:
        for _ in range(3):
            e = outcome(who, "success")
            ids.append(e["event_id"])
            c.report(e)
    assert c.stats.sent == 3 and c.pending == 0
    with Client(server.url, KEY, timeout=5.0) as other:
        assert set(ids) <= set(history_ids(other, who["user"]))


class FlakyHandler(http.server.BaseHTTPRequestHandler):
    """503 with Retry-After: 1 on the first POST /v1/events, 202 after; 503 on every decide."""

    bodies: List[bytes] = []
    times: List[float] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/v1/events":
            FlakyHandler.bodies.append(body)
            FlakyHandler.times.append(time.monotonic())
            if len(FlakyHandler.bodies) == 1:
                self._answer(503, {"error": {"code": "overloaded", "message": "busy"}}, {"Retry-After": "1"})
            else:
                n = len(json.loads(body))
                self._answer(202, {"accepted": n, "decided": n, "duplicates": 0})
        else:
            self._answer(503, {"error": {"code": "overloaded", "message": "busy"}}, {"Retry-After": "1"})

    def _answer(self, status: int, obj: Any, headers: Optional[Dict[str, str]] = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_a_503_degrades_decide_and_report_honours_retry_after() -> None:
    FlakyHandler.bodies, FlakyHandler.times = [], []
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{fake.server_address[1]}"
    seen: List[BaseException] = []
    c = Client(url, KEY, decide_timeout=1.0, on_error=seen.append)
    try:
        d = c.decide(attempt(fresh()))
        assert d["degraded"] is True and d["action"] == "allow" and d["error"] == "503 overloaded"

        c.report(outcome(fresh(), "failure"))
        assert c.flush(5)
        assert len(FlakyHandler.bodies) == 2
        assert FlakyHandler.bodies[0] == FlakyHandler.bodies[1], "a retry sends the same events (same event_id)"
        gap = FlakyHandler.times[1] - FlakyHandler.times[0]
        assert 0.95 <= gap < 1.0 + SLACK + 0.5, gap
        assert (c.stats.sent, c.stats.retries, c.stats.dropped) == (1, 1, 0)

        # send_events retries within its deadline, then raises the last error.
        t = time.monotonic()
        with pytest.raises(PalisadeError) as info:
            FlakyHandler.bodies = []
            c.send_events([outcome(fresh(), "failure")], timeout=0.5)
        assert info.value.status == 503 and time.monotonic() - t < 0.5 + SLACK
    finally:
        c.close(timeout=1)
        fake.shutdown()
        fake.server_close()


class FakeHandler(http.server.BaseHTTPRequestHandler):
    """What a healthy Palisade rarely does: a batch too large (413 beyond two
    events), a stream that lags and one that drops."""

    batches: List[int] = []
    streams = 0
    hold = threading.Event()

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        events = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        FakeHandler.batches.append(len(events))
        if len(events) > 2:
            self._send(413, b'{"error":{"code":"payload_too_large","message":"too large"}}')
        else:
            self._send(202, json.dumps({"accepted": len(events), "decided": len(events), "duplicates": 0}).encode())

    def do_GET(self) -> None:
        FakeHandler.streams += 1
        n = FakeHandler.streams
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        line = {"action": "block", "scope": "ip", "ip": f"192.0.2.{n}", "rule": "r", "event_id": f"e{n}", "issued_at": "x"}
        self.wfile.write(json.dumps(line).encode() + b"\n")
        if n == 1:
            self.wfile.write(b'{"error":{"code":"lagged","message":"too far behind"}}\n')
        elif n == 3:
            FakeHandler.hold.wait(10)  # stays open until the test ends
        self.wfile.flush()

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_413_splits_the_batch_and_the_stream_reconnects_after_lagged_or_a_drop() -> None:
    FakeHandler.batches, FakeHandler.streams = [], 0
    FakeHandler.hold.clear()
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHandler)
    fake.daemon_threads = True
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    seen: List[BaseException] = []
    c = Client(f"http://127.0.0.1:{fake.server_address[1]}", KEY, outcome_flush_interval=1.0, on_error=seen.append)
    try:
        for _ in range(5):
            c.report(outcome(fresh(), "failure"))
        assert c.flush(5)
        assert FakeHandler.batches == [5, 2, 3, 1, 2]
        assert (c.stats.sent, c.stats.dropped) == (5, 0)

        stop = threading.Event()
        got = []
        for e in c.enforcements(stop):
            got.append(e["ip"])
            if len(got) == 3:
                stop.set()  # the third connection stays open: stop must end it
        assert got == ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
        assert FakeHandler.streams == 3 and c.stats.retries == 2
        assert "lagged" in [getattr(e, "code", None) for e in seen]
    finally:
        FakeHandler.hold.set()
        c.close(timeout=1)
        fake.shutdown()
        fake.server_close()


class MuteFeed(SilentServer):
    """Answers the feed's headers, then says nothing, not even palisade's heartbeat."""

    def on_accept(self, conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")


def test_a_silent_feed_is_taken_for_dead_and_made_again() -> None:
    mute = MuteFeed()
    seen: List[BaseException] = []
    c = Client(mute.url, KEY, on_error=seen.append)
    stop = threading.Event()
    threading.Timer(1.2, stop.set).start()
    try:
        assert list(c.enforcements(stop, idle=0.2)) == []
        assert mute.accepted >= 2, f"reconnected after silence: {mute.accepted} connection(s)"
        assert any(getattr(e, "code", None) == "stream" for e in seen), seen
    finally:
        c.close(timeout=1)
        mute.close()


def read_request(conn: socket.socket) -> bytes:
    """Reads one HTTP request from a raw socket; answers its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed by the client")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    while m and len(body) < int(m.group(1)):
        body += conn.recv(65536)
    return body


class ClosingServer(SilentServer):
    """Answers the first request on each connection with a decision, and keeps
    the connection; then, by ``mode``: reads the next request and closes
    without answering (``"after_request"``: a kept-alive connection closed
    just as it is reused), or closes at once, idle (``"idle"``)."""

    mode = "after_request"

    def on_accept(self, conn: socket.socket) -> None:
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            event = json.loads(read_request(conn))
            body = json.dumps({"event_id": event["event_id"], "action": "allow", "reasons": []}).encode()
            head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
            conn.sendall(head.encode() + body)
            if self.mode == "after_request":
                read_request(conn)
            conn.close()
        except (OSError, ValueError):
            pass


@pytest.mark.parametrize("mode", ["after_request", "idle"])
def test_a_kept_alive_connection_the_server_closed_is_replaced_within_the_budget(mode: str) -> None:
    srv = ClosingServer()
    srv.mode = mode
    seen: List[BaseException] = []
    c = Client(srv.url, KEY, decide_timeout=1.0, on_error=seen.append)
    try:
        assert c.decide(attempt(fresh()))["degraded"] is False
        time.sleep(0.05)  # "idle": the server's FIN is in before the next call
        d = c.decide(attempt(fresh()))
        assert d["degraded"] is False and d["action"] == "allow", d
        assert srv.accepted == 2 and c.stats.degraded == 0 and seen == []
    finally:
        c.close(timeout=1)
        srv.close()


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive; each answer after 0.3 s, so that calls overlap."""

    protocol_version = "HTTP/1.1"
    connections = 0
    lock = threading.Lock()

    def setup(self) -> None:
        with SlowHandler.lock:
            SlowHandler.connections += 1
        super().setup()

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(0.3)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def test_the_pool_keeps_at_most_32_idle_connections_and_more_threads_open_more() -> None:
    SlowHandler.connections = 0
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    fake.daemon_threads = True
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    c = Client(f"http://127.0.0.1:{fake.server_address[1]}", KEY, timeout=5.0)
    n = MAX_IDLE_CONNECTIONS + 8
    try:
        assert MAX_IDLE_CONNECTIONS == 32

        def burst() -> List[bool]:
            results: List[bool] = []
            threads = [threading.Thread(target=lambda: results.append(c.health())) for _ in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            return results

        assert burst() == [True] * n
        assert SlowHandler.connections == n, "no cap: every thread had a connection at once"
        idle = [conn.sock for conn, _ in c._pool._idle]
        assert len(idle) == MAX_IDLE_CONNECTIONS
        for sock in idle:
            assert sock is not None
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
        assert burst() == [True] * n
        assert SlowHandler.connections == n + 8, "the 32 idle connections were reused"
    finally:
        c.close(timeout=1)
        fake.shutdown()
        fake.server_close()


class TLSHandler(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.1 keep-alive decide over TLS; counts connections."""

    protocol_version = "HTTP/1.1"
    connections = 0

    def setup(self) -> None:
        TLSHandler.connections += 1
        super().setup()

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        event = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        body = json.dumps({"event_id": event["event_id"], "action": "allow", "reasons": []}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_https_uses_the_default_ssl_context_and_keeps_the_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    try:
        made = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
            + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
            capture_output=True,
            timeout=30,
        )
    except FileNotFoundError:
        pytest.skip("no openssl to make a certificate")
    assert made.returncode == 0, made.stderr
    TLSHandler.connections = 0
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TLSHandler)
    fake.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    fake.socket = ctx.wrap_socket(fake.socket, server_side=True)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    url = f"https://localhost:{fake.server_address[1]}"
    try:
        # Not trusted: refused, as the default context verifies the certificate.
        with Client(url, KEY, decide_timeout=2.0, on_error=lambda e: None) as c:
            d = c.decide(attempt(fresh()))
            assert d["degraded"] is True and "CERTIFICATE_VERIFY_FAILED" in d["error"], d
        # Trusted through the default verify paths (SSL_CERT_FILE): decided, on one connection.
        TLSHandler.connections = 0
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        with Client(url, KEY, decide_timeout=2.0) as c:
            for _ in range(3):
                d = c.decide(attempt(fresh()))
                assert d["degraded"] is False and d["action"] == "allow", d
                time.sleep(0.02)
        assert TLSHandler.connections == 1
    finally:
        fake.shutdown()
        fake.server_close()


# The sync client on the standard library alone: httpx cannot be imported.
NO_HTTPX = r"""
import sys


class BlockHttpx:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("httpx", "httpcore"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, BlockHttpx())

import palisade_client
from palisade_client import AsyncClient, Client, password_sha1

url, key, user, ip = sys.argv[1:5]
assert password_sha1("password") == "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
with Client(url, key, decide_timeout=5.0, timeout=5.0) as c:
    assert c.health() is True
    d = c.decide({"kind": "sign_in", "user": user, "ip": ip, "outcome": "attempt"})
    assert d["degraded"] is False and d["action"] == "allow", d
    assert c.is_password_breached("hunter2") >= 1
    c.report({"kind": "sign_in", "user": user, "ip": ip, "outcome": "success", "event_id": d["event_id"]})
    assert c.flush(5) and c.stats.sent == 1
try:
    AsyncClient(url, key)
except ImportError as exc:
    assert "pip install 'palisade-client[async]'" in str(exc), exc
else:
    raise SystemExit("AsyncClient(...) without httpx must raise ImportError")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("httpx", "httpcore"))
assert not loaded, loaded
print("ok")
"""

# With httpx installed, importing palisade_client and using Client do not load it; AsyncClient does.
LAZY_HTTPX = r"""
import sys

import palisade_client

palisade_client.Client("http://127.0.0.1:9", "k" * 24).close()
assert "httpx" not in sys.modules
from palisade_client import AsyncClient

assert "httpx" in sys.modules and AsyncClient.__name__ == "AsyncClient"
print("ok")
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, env=env)


def test_the_sync_client_works_without_httpx(server: Server) -> None:
    who = fresh()
    run = _python(NO_HTTPX, server.url, KEY, who["user"], who["ip"])
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


def test_httpx_is_imported_only_for_async_client() -> None:
    run = _python(LAZY_HTTPX)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


def test_many_threads_share_one_client(client: Client) -> None:
    results: List[Dict[str, Any]] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(20):
            who = fresh()
            d = client.decide(attempt(who))
            client.report(outcome(who, "success"))
            with lock:
                results.append(dict(d))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 160
    assert all(d["action"] == "allow" and not d["degraded"] for d in results)
    assert len({d["event_id"] for d in results}) == 160
    assert client.flush(15)
    assert (client.stats.sent, client.stats.dropped) == (160, 0)


# -- feedback, enforcements ----------------------------------------------------------


def test_fraudulent_feedback_blocks_the_next_attempt_from_that_user_and_address(client: Client) -> None:
    who = fresh()
    e = outcome(who, "success")
    assert client.send_events([e])["decided"] == 1
    effect = client.feedback(e["event_id"], "fraudulent")
    assert effect["verdict"] == "fraudulent"
    keys = {enforcement_key(x) for x in effect["enforcements"]}
    assert f"user_ip:/{who['user']}|{who['ip']}" in keys
    assert any(x["scope"] == "user_ip" and x["rule"] == "feedback" for x in effect["enforcements"])

    d = client.decide(attempt(who))
    assert d["action"] == "block" and "reported_fraud_block" in codes(d)
    other = client.decide(attempt({"user": fresh()["user"], "ip": who["ip"]}))
    assert "reported_fraud_block" not in codes(other), "the block is of that user from that address only"

    with pytest.raises(PalisadeError) as info:
        client.feedback("no-such-event-" + uuid.uuid4().hex, "fraudulent")
    assert (info.value.status, info.value.code) == (404, "unknown_event")
    with pytest.raises(InvalidEventError):
        client.feedback(e["event_id"], "maybe")


def _consume(
    c: Client, stop: Optional[threading.Event], into: List[Dict[str, Any]], wanted: Set[str], found: threading.Event
) -> threading.Thread:
    def run() -> None:
        for x in c.enforcements(stop):
            into.append(dict(x))
            if wanted <= {enforcement_key(y) for y in into}:
                found.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_the_enforcement_stream_yields_a_brute_force(client: Client, server: Server) -> None:
    who = fresh()
    wanted = {f"user_ip:/{who['user']}|{who['ip']}", f"ip:{who['ip']}"}
    got: List[Dict[str, Any]] = []
    stop, found = threading.Event(), threading.Event()
    consumer = _consume(client, stop, got, wanted, found)
    time.sleep(0.3)  # connected, and past what is in force already
    client.send_events([outcome(who, "failure") for _ in range(12)])
    assert found.wait(15), f"expected {wanted}, got {[enforcement_key(x) for x in got]}"
    mine = {enforcement_key(x): x for x in got if x.get("ip") == who["ip"]}
    assert mine[f"user_ip:/{who['user']}|{who['ip']}"]["rule"] == "brute_force"
    assert mine[f"ip:{who['ip']}"]["rule"] == "source_banned"
    assert all(x["action"] == "block" and x["until"] > x["issued_at"] for x in mine.values())

    t = time.monotonic()
    stop.set()
    consumer.join(2)
    assert not consumer.is_alive() and time.monotonic() - t < 1.0, "stop must end a stream waiting for its next line"

    # A new connection replays what is in force (duplicates are expected), and close() ends it.
    other = Client(server.url, KEY)
    again: List[Dict[str, Any]] = []
    replayed = threading.Event()
    consumer = _consume(other, None, again, wanted, replayed)
    assert replayed.wait(10)
    t = time.monotonic()
    other.close(timeout=1)
    consumer.join(2)
    assert not consumer.is_alive() and time.monotonic() - t < 1.5


def test_the_enforcement_stream_refuses_a_wrong_key(server: Server) -> None:
    c = Client(server.url, "another-wrong-key-000000")
    try:
        with pytest.raises(PalisadeError) as info:
            next(iter(c.enforcements()))
        assert info.value.status == 401
    finally:
        c.close(timeout=1)


def test_enforcement_key_matches_the_servers_keys() -> None:
    base = {"action": "block", "rule": "r", "event_id": "e", "issued_at": "2026-01-01T00:00:00Z"}
    assert enforcement_key({**base, "scope": "ip", "ip": "203.0.113.7"}) == "ip:203.0.113.7"
    assert enforcement_key({**base, "scope": "ip", "ip": "::ffff:203.0.113.7"}) == "ip:203.0.113.7"
    assert enforcement_key({**base, "scope": "network", "network": "203.0.113.0/24"}) == "network:203.0.113.0/24"
    assert (
        enforcement_key({**base, "scope": "user_ip", "user": " Alice ", "tenant": "acme", "ip": "203.0.113.7"})
        == "user_ip:acme/alice|203.0.113.7"
    )
    assert enforcement_key({**base, "scope": "user", "user": "alice"}) == "user:/alice"
    assert enforcement_key({**base, "scope": "user", "user": "Bob", "tenant": "a/b%c"}) == "user:a%2Fb%25c/bob"
    assert enforcement_key({**base, "scope": "user", "user": "ＫＥＶＩＮ\u200b"}) == "user:/kevin"
    assert enforcement_key({**base, "scope": "asn", "asn": 64500}) == "asn:AS64500"
    assert enforcement_key({**base, "scope": "device", "device_id": "D1"}) == "device:D1"
    reset = {**base, "action": "require_password_reset", "scope": "user", "user": "alice", "tenant": "acme"}
    assert enforcement_key(reset) == "password_reset:user:acme/alice"


# -- passwords, users ----------------------------------------------------------------


def test_is_password_breached_and_decide_flags_a_breached_password(client: Client) -> None:
    assert client.is_password_breached("hunter2") >= 1
    assert client.is_password_breached("correct horse battery staple") >= 1
    assert client.is_password_breached("not-breached-" + uuid.uuid4().hex) == 0

    who = fresh()
    bad = client.decide({**attempt(who), "kind": "sign_up", "password_sha1": password_sha1("hunter2")})
    assert bad["compromised_password"] is True and bad["action"] == "block"
    assert "compromised_password" in codes(bad)
    good = client.decide({**attempt(who), "kind": "password_change", "password_sha1": password_sha1("x-" + uuid.uuid4().hex)})
    assert good["compromised_password"] is False and good["action"] != "block"


def test_user_names_with_slash_and_unicode_round_trip(client: Client) -> None:
    name = f"Zoë/{uuid.uuid4().hex[:6]} ü?#%&+ 名"
    who = {"user": name, "ip": fresh()["ip"]}
    events = [outcome(who, "success") for _ in range(3)]
    assert client.send_events(events)["accepted"] == 3
    page = client.user_events(name, limit=2)
    assert [e["event"]["user"] for e in page["events"]] == [name, name]
    assert page.get("next") is not None
    rest = client.user_events(name, limit=2, before=page["next"])
    assert len(rest["events"]) == 1 and rest.get("next") is None
    ids = [e["event"]["event_id"] for e in page["events"] + rest["events"]]
    assert sorted(ids) == sorted(e["event_id"] for e in events)

    # A tenant is part of the user; `..` is a name, not a path segment.
    t_who = {"user": "..", "ip": who["ip"], "tenant": f"acme/{uuid.uuid4().hex[:6]}"}
    e = outcome(t_who, "success")
    client.send_events([e])
    assert history_ids(client, "..", tenant=t_who["tenant"]) == [e["event_id"]]
    assert client.user_events(name, tenant=t_who["tenant"])["events"] == []


def test_health(client: Client) -> None:
    assert client.health() is True


# -- AsyncClient ---------------------------------------------------------------------


def test_async_decide_allows_and_degrades_per_fail_mode(server: Server, silent: SilentServer) -> None:
    async def main() -> None:
        async with AsyncClient(server.url, KEY, decide_timeout=2.0) as c:
            d = await c.decide(attempt(fresh()))
            assert d["action"] == "allow" and d["degraded"] is False and d["reasons"] == []
            assert uuid.UUID(d["event_id"]).version == 4
            with pytest.raises(PasswordFieldError):
                await c.decide(attempt(fresh(), Password="hunter2"))
            with pytest.raises(PalisadeError) as info:
                await c.decide(attempt(fresh(), ip="nope"))
            assert (info.value.status, info.value.field) == (422, "ip")
            assert await c.health() is True

        seen: List[BaseException] = []
        async with AsyncClient(silent.url, KEY, fail_mode="closed", on_error=seen.append) as c:
            t = time.monotonic()
            d = await c.decide(attempt(fresh()))
            took = time.monotonic() - t
            assert 0.045 <= took < 0.05 + SLACK, took
            assert d["action"] == "challenge" and d["mfa"] == "required" and d["degraded"] is True
            t = time.monotonic()
            d = await c.decide(attempt(fresh()), fail_mode="open", timeout=0.2)
            assert 0.19 <= time.monotonic() - t < 0.2 + SLACK
            assert d["action"] == "allow" and d["degraded"] is True
            assert c.stats.degraded == 2 and len(seen) == 2

        async with AsyncClient(f"http://127.0.0.1:{free_port()}", KEY, on_error=lambda e: None) as c:
            t = time.monotonic()
            d = await c.decide(attempt(fresh()))
            assert d["degraded"] is True and time.monotonic() - t < 0.05 + SLACK

        wrong = "wrong-key-async-00000000"
        async with AsyncClient(server.url, wrong) as c:
            with pytest.raises(PalisadeError) as info:
                await c.decide(attempt(fresh()))
            assert info.value.status == 401 and wrong not in str(info.value) and wrong not in repr(c)

    asyncio.run(main())


def test_async_report_batches_drops_only_the_bad_event_and_then_blocks(server: Server) -> None:
    async def main() -> None:
        seen: List[BaseException] = []
        c = AsyncClient(server.url, KEY, decide_timeout=2.0, timeout=5.0, outcome_flush_interval=0.5, on_error=seen.append)
        who = fresh()
        events = [outcome(who, "failure") for _ in range(13)]
        events[5]["ip"] = "not-an-ip"
        t = time.monotonic()
        for e in events:
            c.report(e)
        assert time.monotonic() - t < 0.05, "report() must not wait"
        assert await c.flush(10)
        s = c.stats
        assert (s.sent, s.dropped, s.pending) == (12, 1, 0)
        assert [(e.status, e.field) for e in seen if isinstance(e, PalisadeError)] == [(422, "[5].ip")]
        page = await c.user_events(who["user"], limit=100)
        got = {x["event"]["event_id"] for x in page["events"]}
        assert {e["event_id"] for i, e in enumerate(events) if i != 5} <= got
        d = await c.decide(attempt(who))
        assert d["action"] == "block" and "failures_user_ip" in codes(d)

        dup = await c.send_events([events[0]])
        assert dup["duplicates"] == 1 and dup["decided"] == 0
        ok = outcome(fresh(), "success")
        await c.send_events([ok])
        effect = await c.feedback(ok["event_id"], "fraudulent")
        assert effect["verdict"] == "fraudulent"
        d = await c.decide(attempt({"user": ok["user"], "ip": ok["ip"]}))
        assert d["action"] == "block" and "reported_fraud_block" in codes(d)
        assert await c.is_password_breached("hunter2") >= 1
        assert await c.is_password_breached("nope-" + uuid.uuid4().hex) == 0
        assert await c.close()
        c.report(outcome(fresh(), "success"))
        assert c.stats.dropped == 2

    asyncio.run(main())


def test_async_reports_are_retried_while_the_server_is_down() -> None:
    async def main() -> None:
        c = AsyncClient(f"http://127.0.0.1:{free_port()}", KEY, outcome_queue_size=2, outcome_batch_size=1, on_error=lambda e: None)
        for _ in range(5):
            c.report(outcome(fresh(), "failure"))
        assert c.stats.dropped == 3 and c.pending == 2
        await asyncio.sleep(0.4)
        assert c.stats.retries >= 2 and c.stats.sent == 0
        t = time.monotonic()
        assert await c.close(timeout=0.2) is False
        assert time.monotonic() - t < 0.2 + 1.0
        assert (c.stats.dropped, c.stats.pending) == (5, 0)

    asyncio.run(main())


def test_async_enforcement_stream_yields_a_brute_force_and_stops(server: Server) -> None:
    async def main() -> None:
        async with AsyncClient(server.url, KEY, timeout=5.0) as c:
            who = fresh()
            wanted = {f"user_ip:/{who['user']}|{who['ip']}", f"ip:{who['ip']}"}
            stop = asyncio.Event()
            got: List[Dict[str, Any]] = []
            found = asyncio.Event()

            async def consume() -> None:
                async for x in c.enforcements(stop):
                    got.append(dict(x))
                    if wanted <= {enforcement_key(y) for y in got}:
                        found.set()

            task = asyncio.ensure_future(consume())
            await asyncio.sleep(0.3)
            await c.send_events([outcome(who, "failure") for _ in range(12)])
            await asyncio.wait_for(found.wait(), 15)
            t = time.monotonic()
            stop.set()
            await asyncio.wait_for(task, 1.0)
            assert time.monotonic() - t < 1.0

        c2 = AsyncClient(server.url, KEY)
        seen: List[Dict[str, Any]] = []

        async def consume_all() -> None:
            async for x in c2.enforcements():
                seen.append(dict(x))

        task = asyncio.ensure_future(consume_all())
        await asyncio.sleep(0.5)
        assert seen, "what is in force is replayed on connecting"
        # close() ends a stream that has no stop event.
        await c2.close(timeout=1)
        await asyncio.wait_for(task, 1.5)

    asyncio.run(main())
