"""httpx plumbing for the async client (``pip install 'palisade-client[async]'``).

The sync client does not use it: it is on the standard library (``_transport``).
"""

from __future__ import annotations

import time
from typing import Any, Optional

import httpx

#: Connections per AsyncClient pool, kept idle at most, and for how long (s).
MAX_CONNECTIONS = 100
MAX_KEEPALIVE = 20
KEEPALIVE_EXPIRY = 5.0

PHASES = ("connect", "read", "write", "pool")


class Deadline(dict):  # type: ignore[type-arg]
    """httpx/httpcore timeouts that shrink to what is left of one deadline.

    httpcore asks ``timeouts.get("connect" | "write" | "read" | "pool")``
    before each step and each socket read, so every step gets the time left;
    the async client bounds the call as a whole with ``asyncio.wait_for``
    (a body dripped a byte at a time included).
    """

    __slots__ = ("deadline",)

    def __init__(self, budget: float, deadline: Optional[float] = None):
        super().__init__((p, budget) for p in PHASES)
        self.deadline = time.monotonic() + budget if deadline is None else deadline

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def get(self, key: str, default: Any = None) -> Any:
        if key in PHASES:
            # Never 0: a socket timeout of 0 means non-blocking, not "now".
            return max(self.left(), 0.0005)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        if key in PHASES:
            return max(self.left(), 0.0005)
        return super().__getitem__(key)


def why(exc: BaseException, budget: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {budget * 1000:.0f} ms ({type(exc).__name__})"
    cause = exc.__context__ or exc.__cause__
    text = str(exc) or type(exc).__name__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return f"{type(exc).__name__}: {text}"[:300]


def limits() -> httpx.Limits:
    return httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE, keepalive_expiry=KEEPALIVE_EXPIRY)
