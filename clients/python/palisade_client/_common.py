"""What the sync and async clients share: errors, event checks, helpers.

Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import math
import random
import re
import socket
import threading
import time
import unicodedata
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote

from ._types import Decision, FailMode

logger = logging.getLogger("palisade_client")

#: The whole budget of one decide() call, in seconds.
DEFAULT_DECIDE_TIMEOUT = 0.05
#: The budget of every other call (and of each POST of an outcome batch).
DEFAULT_TIMEOUT = 2.0
DEFAULT_OUTCOME_QUEUE_SIZE = 10_000
DEFAULT_OUTCOME_BATCH_SIZE = 500
DEFAULT_OUTCOME_FLUSH_INTERVAL = 0.05
#: Bytes of JSON per outcome batch, well under the server's 4 MiB default.
MAX_BATCH_BYTES = 1 << 20
#: The server's limit on one batch (events).
SERVER_MAX_BATCH_EVENTS = 10_000
BACKOFF_START = 0.1
BACKOFF_CAP = 5.0
#: A Retry-After longer than this is taken as this.
RETRY_AFTER_CAP = 60.0
#: Bounds of flush() and close() when not given.
DEFAULT_FLUSH_TIMEOUT = 5.0
#: A stream connection that lasted this long (s) starts the backoff afresh.
STREAM_STABLE = 10.0
#: Seconds the enforcement feed may stay silent before its connection is taken
#: for dead: three of the server's 15 s heartbeats (server.stream_heartbeat).
STREAM_IDLE = 45.0

_CONTRACT_FIELDS = frozenset(
    (
        "event_id",
        "timestamp",
        "kind",
        "user",
        "user_exists",
        "ip",
        "outcome",
        "failure_reason",
        "user_agent",
        "device_id",
        "password_sha1",
        "mfa",
        "tenant",
        "label",
    )
)


class PalisadeError(Exception):
    """An answer from Palisade that is not what was asked, or a call that failed for good.

    ``status`` is the HTTP status, or 0 when there was no answer (``code``
    ``unreachable``: a timeout or a connection error) or the client refused
    the call itself. ``code`` and ``field`` are the server's
    ``{"error": {"code", "message", "field"}}`` (``field`` may be None, or
    ``[3].ip`` inside a batch). The API key never appears in it.
    """

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None):
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        where = f" (field {field})" if field else ""
        super().__init__(f"palisade: {status} {code}: {message}{where}")

    def __reduce__(self) -> Any:  # picklable despite the custom __init__
        return (type(self), (self.status, self.code, self.message, self.field))


class PasswordFieldError(PalisadeError, ValueError):
    """An event carries a plain-text password: refused before any network call."""


class InvalidEventError(PalisadeError, ValueError):
    """An event or argument the client refuses before any network call
    (not a mapping, an outcome where an attempt is asked, a bad verdict)."""


def password_sha1(password: str | bytes) -> str:
    """SHA-1 of a password as 40 upper-case hex digits: what ``password_sha1`` carries.

    A ``str`` is encoded as UTF-8, as HIBP's corpus and Palisade's
    ``pwned build --format passwords`` hash it.
    """
    data = password.encode("utf-8") if isinstance(password, str) else bytes(password)
    return hashlib.sha1(data).hexdigest().upper()


def is_password_key(key: str) -> bool:
    """Whether a key names a plain-text password, as the server judges it:
    ``password``, ``Password``, ``PASSWD``, ``pwd``, ``pass``, ``new-password``,
    ... (``password_sha1`` is the hash, not a password)."""
    if key in _CONTRACT_FIELDS:
        return False
    if len(key) > 32:
        return False
    k = "".join(c for c in key.lower() if c.isascii() and c.isalnum())
    if k == "passwordsha1":
        return False
    return k in ("pwd", "pass", "passwd", "passphrase", "passcode") or "password" in k or "passwd" in k


def check_event(event: Any, *, outcome_only: bool = False) -> Dict[str, Any]:
    """A copy of ``event`` ready to send, with ``event_id`` filled.

    Raises :class:`PasswordFieldError` for a plain-text password (any
    spelling the server refuses, with a non-null value) and
    :class:`InvalidEventError` for a non-mapping, or an ``attempt`` where
    only outcomes are taken (``outcome_only``).
    """
    if type(event) is not dict and not isinstance(event, Mapping):
        raise InvalidEventError(0, "invalid_event", f"an event is a mapping (dict), not {type(event).__name__}")
    for k, v in event.items():
        # (the contract's own fields first, without a call: this runs on every decide)
        if v is not None and k not in _CONTRACT_FIELDS and isinstance(k, str) and is_password_key(k):
            raise PasswordFieldError(
                0,
                "invalid_field",
                f"the event carries a plain-text password in `{k}`: send only "
                "password_sha1 (palisade_client.password_sha1(password)), never the password",
                k,
            )
    e = dict(event)
    if outcome_only and e.get("outcome") not in ("success", "failure"):
        raise InvalidEventError(
            0,
            "invalid_field",
            f"report() and send_events() take outcomes (success or failure), not {e.get('outcome')!r}; ask decide() about an attempt",
            "outcome",
        )
    if not e.get("event_id"):
        e["event_id"] = str(uuid.uuid4())
    return e


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with milliseconds (``...T12:00:00.123Z``)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # made once: dumps is on every decide


def dumps(obj: Any) -> bytes:
    return _ENCODER.encode(obj).encode("utf-8")


def error_from(status: int, body: bytes) -> PalisadeError:
    """A :class:`PalisadeError` from an error answer (``{"error": {...}}`` or not)."""
    try:
        err = json.loads(body).get("error")
        if isinstance(err, dict) and err.get("code"):
            return PalisadeError(status, str(err["code"]), str(err.get("message") or ""), err.get("field"))
    except (ValueError, AttributeError):
        pass
    text = body[:200].decode("utf-8", "replace").strip()
    return PalisadeError(status, f"http_{status}", text or "no error body")


def is_retryable_status(status: int) -> bool:
    """5xx (503 overloaded, unavailable), 408 and 429: try again later."""
    return status >= 500 or status in (408, 429)


_INDEXED_FIELD = re.compile(r"^\[(\d+)\]")


def batch_index(field: Optional[str]) -> Optional[int]:
    """The index a batch error names (``[3].ip`` -> 3), or None."""
    if not field:
        return None
    m = _INDEXED_FIELD.match(field)
    return int(m.group(1)) if m else None


def retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds of a ``Retry-After`` header in seconds form (capped), or None."""
    if not value:
        return None
    try:
        s = float(value.strip())
    except ValueError:
        return None  # an HTTP date: Palisade sends seconds; fall back to backoff
    if math.isnan(s) or s < 0:
        return None
    return min(s, RETRY_AFTER_CAP)


class Backoff:
    """Exponential backoff: 0.1 s, doubling, capped at 5 s, with up to 20%
    jitter taken off (so many clients do not retry in step)."""

    def __init__(self, start: float = BACKOFF_START, cap: float = BACKOFF_CAP):
        self.start = start
        self.cap = cap
        self.current = start

    def next_delay(self, retry_after_s: Optional[float] = None) -> float:
        if retry_after_s is not None:
            delay = retry_after_s
        else:
            delay = self.current * (1.0 - 0.2 * random.random())
        self.current = min(self.current * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.current = self.start


def keepalive_options() -> List[Tuple[int, int, int]]:
    """TCP keepalive: probes after 30 s of silence, every 10 s, 3 of them
    (where the platform lets them be set)."""
    opts = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            opts.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return opts


def degraded_decision(event: Mapping[str, Any], why: str, mode: FailMode) -> Decision:
    """The decision the fail mode answers when Palisade does not."""
    closed = mode == "closed"
    d: Dict[str, Any] = {
        "event_id": event.get("event_id", ""),
        "action": "challenge" if closed else "allow",
        "risk_level": "medium" if closed else "low",
        "risk_score": 0,
        "reasons": [],
        "compromised_password": False,
        "enforced": False,
        "rules_version": "",
        "model_version": "",
        "degraded": True,
        "error": why,
    }
    if closed:
        d["mfa"] = "required"
    return d  # type: ignore[return-value]


def as_decision(body: bytes) -> Optional[Decision]:
    """The decision in a 200 answer, ``degraded=False`` added; None if it is not one."""
    try:
        d = json.loads(body)
    except ValueError:
        return None
    if (
        not isinstance(d, dict)
        or d.get("action") not in ("allow", "challenge", "block")
        or not isinstance(d.get("event_id"), str)
        or not isinstance(d.get("reasons"), list)
    ):
        return None
    d["degraded"] = False
    return d  # type: ignore[return-value]


def check_fail_mode(mode: Any) -> FailMode:
    if mode not in ("open", "closed"):
        raise ValueError(f'fail_mode must be "open" or "closed", got {mode!r}')
    return mode  # type: ignore[no-any-return]


def check_base_url(base_url: Any) -> str:
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must be an http:// or https:// URL, such as http://127.0.0.1:8080, got {base_url!r}")
    return base_url.rstrip("/")


def check_api_key(api_key: Any) -> str:
    if not isinstance(api_key, str) or not api_key:
        raise ValueError("api_key is required (a non-empty string)")
    if any(c in api_key for c in "\r\n\0") or api_key != api_key.strip():
        raise ValueError("api_key holds whitespace or control characters")  # the key itself is not shown
    return api_key


def user_events_path(user: str) -> str:
    """``/v1/users/{user}/events`` with the user percent-encoded whole:
    every reserved character, ``/`` included, and ``.`` too so that a name
    such as ``..`` is not taken for a path segment to collapse."""
    if not isinstance(user, str):
        raise InvalidEventError(0, "invalid_parameter", "user must be a string", "user")
    return "/v1/users/" + quote(user, safe="").replace(".", "%2E") + "/events"


def parse_range(text: str, suffix: str) -> int:
    """The count of ``suffix`` in a ``/range`` answer (``SUFFIX:COUNT`` lines); 0 when absent.
    Padding lines (count 0) are ignored."""
    suffix = suffix.upper()
    for line in text.splitlines():
        s, sep, count = line.strip().partition(":")
        if sep and s.upper() == suffix:
            try:
                n = int(count.strip())
            except ValueError:
                continue
            if n > 0:
                return n
    return 0


# -- enforcement keys ---------------------------------------------------------

_DEFAULT_IGNORABLE: Tuple[Tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def _ignorable(c: str) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in _DEFAULT_IGNORABLE)


def fold_user(user: str) -> str:
    """A user name as the server keys it (RFC 8265 UsernameCaseMapped, in
    outline): trimmed; printable ASCII lower-cased (runs of spaces made one
    when there are two in a row); otherwise invisible code points taken out,
    NFKC, and each space-separated part lower-cased and NFC'd."""
    u = user.strip()
    if all(" " <= c <= "~" for c in u):
        if "  " in u:
            return " ".join(p.lower() for p in u.split(" ") if p)
        return u.lower()
    visible = unicodedata.normalize("NFKC", "".join(c for c in u if not _ignorable(c))).strip()
    parts = (unicodedata.normalize("NFC", p.lower()) for p in visible.split(" "))
    return " ".join(p for p in parts if p)


def _account(e: Mapping[str, Any]) -> str:
    tenant = str(e.get("tenant") or "").replace("%", "%25").replace("/", "%2F")
    return f"{tenant}/{fold_user(str(e.get('user') or ''))}"


def _ip(text: Any) -> str:
    s = str(text or "")
    try:
        a = ipaddress.ip_address(s)
    except ValueError:
        return s
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        return str(a.ipv4_mapped)
    return str(a)


def enforcement_key(e: Mapping[str, Any]) -> str:
    """The server's key for what an enforcement enforces, the same for a
    replayed copy: ``ip:203.0.113.7``, ``network:203.0.113.0/24``,
    ``user_ip:acme/alice|203.0.113.7``, ``user:/alice`` (no tenant),
    ``asn:AS64500``, ``device:ID``, ``password_reset:user:acme/alice``.

    Users are folded as the server folds them (``Alice`` is ``alice``) and
    ``/`` and ``%`` in a tenant are written ``%2F`` and ``%25``.
    """
    scope = str(e.get("scope") or "")
    if scope == "ip":
        body = _ip(e.get("ip"))
    elif scope == "network":
        body = str(e.get("network") or "")
    elif scope == "user_ip":
        body = f"{_account(e)}|{_ip(e.get('ip'))}"
    elif scope == "user":
        body = _account(e)
    elif scope == "asn":
        body = f"AS{int(e.get('asn') or 0)}"
    elif scope == "device":
        body = str(e.get("device_id") or "")
    else:  # a scope this client does not know yet: every field, in order
        body = json.dumps({k: v for k, v in sorted(e.items()) if k not in ("until", "issued_at", "event_id", "rule")})
    key = f"{scope}:{body}"
    if e.get("action") == "require_password_reset":
        key = "password_reset:" + key
    return key


# -- error reporting ----------------------------------------------------------


class ErrorSink:
    """Calls ``on_error(exc)``; without one, logs a warning on the
    ``palisade_client`` logger, at most one a second (with a count of those
    held back) so an outage does not flood the log. A callback that raises
    is logged and otherwise ignored: it must never break a sign-in."""

    def __init__(self, on_error: Optional[Callable[[BaseException], Any]]):
        self.on_error = on_error
        self._lock = threading.Lock()
        self._last = 0.0
        self._held = 0

    def __call__(self, exc: BaseException) -> None:
        if self.on_error is not None:
            try:
                self.on_error(exc)
            except Exception:
                logger.exception("palisade_client: on_error raised")
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last < 1.0:
                self._held += 1
                return
            held, self._held, self._last = self._held, 0, now
        more = f" ({held} more since the last message)" if held else ""
        logger.warning("%s%s", exc, more)
