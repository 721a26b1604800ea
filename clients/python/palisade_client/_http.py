"""httpx plumbing shared by the sync and async clients."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, List, Optional, Tuple

import httpcore
import httpx

#: A stream connection that lasted this long (s) starts the backoff afresh.
STREAM_STABLE = 10.0
# Seconds the enforcement feed may stay silent before its connection is taken
# for dead: three of the server's 15 s heartbeats (server.stream_heartbeat).
STREAM_IDLE = 45.0
#: Connections per client pool, kept idle at most, and for how long (s).
MAX_CONNECTIONS = 100
MAX_KEEPALIVE = 20
KEEPALIVE_EXPIRY = 5.0

PHASES = ("connect", "read", "write", "pool")


class Deadline(dict):  # type: ignore[type-arg]
    """httpx/httpcore timeouts that shrink to what is left of one deadline.

    httpcore asks ``timeouts.get("connect" | "write" | "read" | "pool")``
    before each step and each socket read, so every step gets the time left,
    and the call as a whole cannot take much more than its budget. (Copied
    into a plain dict, it holds the whole budget per step: still bounded.)
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


def keepalive_options() -> List[Tuple[int, int, int]]:
    opts = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            opts.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return opts


def limits() -> httpx.Limits:
    return httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE, keepalive_expiry=KEEPALIVE_EXPIRY)


# -- a hard deadline for the sync client -----------------------------------------
#
# httpcore takes one read timeout per response part and applies it to each
# socket read, so a server that answers one byte at a time could hold a call
# far past its budget. The sync client therefore wraps the pool's network
# backend: while a call runs (``deadline_scope``), every connect, read and
# write of the calling thread is cut to what is left of the call's deadline.
# (The async client bounds the whole call with ``asyncio.wait_for``.)

_local = threading.local()


class deadline_scope:
    """While active on this thread, socket operations end by ``deadline`` (time.monotonic())."""

    __slots__ = ("deadline", "previous")

    def __init__(self, deadline: float):
        self.deadline = deadline

    def __enter__(self) -> None:
        self.previous = getattr(_local, "deadline", None)
        _local.deadline = self.deadline

    def __exit__(self, *exc: Any) -> None:
        _local.deadline = self.previous


def _bound(timeout: Optional[float], exc: type) -> Optional[float]:
    deadline: Optional[float] = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise exc("the call's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        return self._inner.read(max_bytes, _bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        self._inner.write(buffer, _bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: Optional[str] = None, timeout: Optional[float] = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _bound(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend):
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: Optional[float] = None,
        local_address: Optional[str] = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        t = _bound(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, t, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: Optional[float] = None, socket_options: Any = None) -> httpcore.NetworkStream:
        t = _bound(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, t, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def sync_transport() -> Tuple[httpx.HTTPTransport, bool]:
    """The sync client's transport, and whether its calls have hard deadlines.

    The wrapping reaches into httpx's and httpcore's internals (the
    transport's ``_pool``, the pool's ``_network_backend``); should a future
    release move them, the client still works, with each step bounded by
    the time left when it starts instead.
    """
    transport = httpx.HTTPTransport(limits=limits(), socket_options=keepalive_options())
    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.ConnectionPool) and isinstance(inner, httpcore.NetworkBackend):
        pool._network_backend = _DeadlineBackend(inner)
        return transport, True
    return transport, False
