"""The sync client's transport: the standard library's ``http.client`` over a
small pool of kept-alive connections. No third-party package.

- The pool is a LIFO stack of idle connections, at most
  :data:`MAX_IDLE_CONNECTIONS` (32). A call takes the most recently used one
  (so a few connections stay warm and the rest age out), or opens a new one
  when none is idle: threads never wait for a connection, more threads simply
  open more, and a connection given back to a full stack closes the oldest
  idle one. An idle connection is not reused after :data:`KEEPALIVE_EXPIRY`
  (5 s), nor when the server has closed it (its socket is readable while
  idle).
- Every socket has TCP_NODELAY and TCP keepalive on; https uses
  ``ssl.create_default_context()``; proxies are not used (``http.client``
  does not read the environment).
- Each call has a deadline (``time.monotonic()``): before connecting, each
  write and each read of the socket, its timeout is set to the time left, so
  a server that answers a byte at a time cannot stretch the call.
- A kept-alive connection that turns out to be closed (the server reset it,
  or closed it before any byte of the answer was read) is replaced once, at
  once, inside the same deadline, when the caller allows it.
"""

from __future__ import annotations

import collections
import http.client
import io
import json
import select
import socket
import ssl
import threading
import time
from typing import Any, Deque, List, Mapping, Optional, Tuple
from urllib.parse import quote, urlsplit

from ._common import keepalive_options

#: Idle connections kept per client, at most (a stack: the newest is reused first).
MAX_IDLE_CONNECTIONS = 32
#: Seconds an idle connection may wait to be reused: under the 10 s after which
#: the server closes an idle connection itself (``server.header_read_timeout``).
KEEPALIVE_EXPIRY = 5.0
#: A closed kept-alive connection is replaced only with at least this much of the deadline left (s).
STALE_RETRY_MIN_LEFT = 0.002
USER_AGENT = "palisade-client-python/0.1.0"

_STALE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)  # RemoteDisconnected is a ConnectionResetError


class TransportError(Exception):
    """No answer: a timeout, a connection error, or an answer that is not HTTP.

    ``kind`` names what failed: ``ConnectError``, ``ConnectTimeout``,
    ``WriteError``, ``WriteTimeout``, ``ReadError``, ``ReadTimeout`` or
    ``RemoteProtocolError``. ``stale``: the call was on a kept-alive
    connection that turned out to be closed before any byte of the answer.
    """

    def __init__(self, kind: str, cause: BaseException, stale: bool = False):
        self.kind = kind
        self.timeout = kind.endswith("Timeout")
        self.stale = stale
        super().__init__(f"{kind}: {str(cause) or type(cause).__name__}")

    def why(self, budget: float) -> str:
        """What ``decide``'s ``error`` and the errors told to ``on_error`` say."""
        if self.timeout:
            return f"no answer within {budget * 1000:.0f} ms ({self.kind})"
        return str(self)[:300]


class ClientClosed(RuntimeError):
    """A call on a client after ``close()``."""


class Response:
    """A whole answer: status, headers (case-insensitive ``.get``) and body."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: http.client.HTTPMessage, content: bytes):
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def _left(deadline: float) -> float:
    """Seconds left before ``deadline``, for a socket timeout (never 0, which
    would mean non-blocking); raises ``socket.timeout`` once it has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("the call's deadline has passed")
    return left


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server closed it
    (or sent what it should not have). Either way it is not to be reused."""
    try:
        if hasattr(select, "poll"):
            p = select.poll()
            p.register(sock, select.POLLIN)
            return bool(p.poll(0))
        r, _, _ = select.select([sock], [], [], 0)
        return bool(r)
    except (OSError, ValueError):
        return True


class _DeadlineIO(io.RawIOBase):
    """What ``HTTPResponse`` reads from: the socket's own reader (``makefile``,
    which keeps the socket open while the response is read, even after the
    connection is closed), each read ending by the connection's deadline
    (none: the socket's timeout as it is set), and the bytes read counted
    (none yet: a closed connection can be replaced)."""

    def __init__(self, sock: socket.socket, conn: _Conn):
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> Optional[int]:
        deadline = self._conn.deadline
        if deadline is not None:
            self._sock.settimeout(_left(deadline))
        n = self._raw.readinto(b)
        if n:
            self._conn.received += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _Source:
    """Stands for the socket in ``HTTPResponse(sock)``, which only calls ``makefile``."""

    __slots__ = ("sock", "conn")

    def __init__(self, sock: socket.socket, conn: _Conn):
        self.sock = sock
        self.conn = conn

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineIO(self.sock, self.conn))


class _Conn(http.client.HTTPConnection):
    """One connection whose connect, writes and reads end by ``deadline``."""

    def __init__(self, host: str, port: int):
        super().__init__(host, port)
        #: time.monotonic() by which every socket operation ends; None: the socket's timeout as set.
        self.deadline: Optional[float] = None
        #: Bytes of the answer read so far.
        self.received = 0
        self._body: Optional[bytes] = None
        self.response_class = self._response  # type: ignore[assignment]

    def _response(self, sock: socket.socket, *args: Any, **kw: Any) -> http.client.HTTPResponse:
        return http.client.HTTPResponse(_Source(sock, self), *args, **kw)  # type: ignore[arg-type]

    def _socket(self) -> socket.socket:
        timeout = None if self.deadline is None else _left(self.deadline)
        sock = socket.create_connection((self.host, self.port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for level, name, value in keepalive_options():
                sock.setsockopt(level, name, value)
        except OSError:
            sock.close()
            raise
        return sock

    def connect(self) -> None:
        self.sock = self._socket()

    def send(self, data: Any) -> None:
        # The request's head and body in one write (one packet, one wakeup of the server).
        if self._body is not None:
            data, self._body = bytes(data) + self._body, None
        if self.sock is not None and self.deadline is not None:
            self.sock.settimeout(_left(self.deadline))
        super().send(data)

    def send_request(self, method: str, target: str, headers: Mapping[str, str], body: Optional[bytes]) -> None:
        self.putrequest(method, target)
        for k, v in headers.items():
            self.putheader(k, v)
        if body is not None:
            self.putheader("content-length", str(len(body)))
            self._body = body
        try:
            self.endheaders()
        finally:
            self._body = None


class _TLSConn(_Conn):
    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, context: ssl.SSLContext):
        super().__init__(host, port)
        self.context = context

    def connect(self) -> None:
        sock = self._socket()
        try:
            if self.deadline is not None:
                sock.settimeout(_left(self.deadline))
            self.sock = self.context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _failure(exc: BaseException, phase: str, conn: _Conn, reused: bool) -> TransportError:
    if isinstance(exc, socket.timeout):
        return TransportError(phase + "Timeout", exc)
    stale = reused and conn.received == 0 and phase != "Connect" and isinstance(exc, _STALE)
    if isinstance(exc, http.client.HTTPException) and not isinstance(exc, ConnectionError):
        return TransportError("RemoteProtocolError", exc)
    return TransportError(phase + "Error", exc, stale)


class Pool:
    """Kept-alive connections to one ``base_url``, shared by threads (see the module docstring)."""

    def __init__(self, base_url: str, max_idle: int = MAX_IDLE_CONNECTIONS, expiry: float = KEEPALIVE_EXPIRY):
        u = urlsplit(base_url)
        self.tls = u.scheme == "https"
        self.host = u.hostname or "localhost"
        self.port = u.port or (443 if self.tls else 80)  # given, so that http.client does not parse one out of "::1"
        # The path prefix (behind a proxy), percent-encoded where it must be.
        self.prefix = quote(u.path.rstrip("/"), safe="/%:@!$&'()*+,;=-._~")
        self.max_idle = max_idle
        self.expiry = expiry
        self._context: Optional[ssl.SSLContext] = None
        self._idle: Deque[Tuple[_Conn, float]] = collections.deque()  # (connection, idle since): oldest left, newest right
        self._lock = threading.Lock()
        self._closed = False

    def _new(self) -> _Conn:
        if not self.tls:
            return _Conn(self.host, self.port)
        if self._context is None:
            ctx = ssl.create_default_context()
            ctx.set_alpn_protocols(["http/1.1"])
            self._context = ctx
        return _TLSConn(self.host, self.port, self._context)

    def _checkout(self, fresh: bool) -> Tuple[_Conn, bool]:
        """A connection to use, and whether it was kept alive (else it is new, unconnected)."""
        while not fresh:
            expired: List[_Conn] = []
            conn: Optional[_Conn] = None
            now = time.monotonic()
            with self._lock:
                if self._closed:
                    raise ClientClosed("the client is closed")
                if not self._idle:
                    break
                c, since = self._idle.pop()
                if now - since <= self.expiry:
                    conn = c
                else:  # the newest has expired: so have all below it
                    expired = [c] + [x for x, _ in self._idle]
                    self._idle.clear()
            for x in expired:
                x.close()
            if conn is None:
                break
            if conn.sock is not None and not _readable(conn.sock):
                return conn, True
            conn.close()
        with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed")
        return self._new(), False

    def _checkin(self, conn: _Conn) -> None:
        if conn.sock is None:  # closed by the answer (Connection: close, HTTP/1.0)
            return
        conn.deadline = None
        drop: List[_Conn] = []
        now = time.monotonic()
        with self._lock:
            while self._idle and (now - self._idle[0][1] > self.expiry or len(self._idle) >= self.max_idle):
                drop.append(self._idle.popleft()[0])
            if self._closed:
                drop.append(conn)
            else:
                self._idle.append((conn, now))
        for x in drop:
            x.close()

    def request(
        self,
        method: str,
        path: str,
        deadline: float,
        headers: Mapping[str, str],
        body: Optional[bytes] = None,
        *,
        retry_stale: bool = True,
    ) -> Response:
        """One request and its whole answer, by ``deadline`` (time.monotonic()).

        Raises :class:`TransportError` without an answer, :class:`ClientClosed`
        after :meth:`close`. With ``retry_stale``, a kept-alive connection found
        closed before any byte of the answer is replaced once by a new one."""
        target = self.prefix + path
        fresh = False
        while True:
            conn, reused = self._checkout(fresh)
            try:
                resp = self._exchange(conn, reused, method, target, deadline, headers, body)
            except TransportError as exc:
                if retry_stale and exc.stale and not fresh and deadline - time.monotonic() > STALE_RETRY_MIN_LEFT:
                    fresh = True
                    continue
                raise
            self._checkin(conn)
            return resp

    def _exchange(
        self, conn: _Conn, reused: bool, method: str, target: str, deadline: float, headers: Mapping[str, str], body: Optional[bytes]
    ) -> Response:
        conn.deadline = deadline
        conn.received = 0
        phase = "Connect"
        try:
            if conn.sock is None:
                conn.connect()
            phase = "Write"
            conn.send_request(method, target, headers, body)
            phase = "Read"
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _failure(exc, phase, conn, reused) from exc
        except BaseException:
            conn.close()
            raise
        return Response(resp.status, resp.headers, data)

    def stream(
        self, path: str, headers: Mapping[str, str], timeout: float, idle: float
    ) -> Tuple[_Conn, socket.socket, http.client.HTTPResponse]:
        """A GET on a connection of its own (not pooled) whose answer is read
        as it comes: connecting and sending within ``timeout``, then each read
        of the socket within ``idle`` seconds. Answers the connection (close
        it), its socket (shut it down to wake a blocked read from another
        thread) and the response, its status and headers read."""
        with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed")
        conn = self._new()
        conn.deadline = time.monotonic() + timeout
        phase = "Connect"
        try:
            conn.connect()
            sock = conn.sock
            assert sock is not None
            phase = "Write"
            conn.send_request("GET", self.prefix + path, headers, None)
            phase = "Read"
            conn.deadline = None
            sock.settimeout(idle)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise _failure(exc, phase, conn, False) from exc
        except BaseException:
            conn.close()
            raise
        return conn, sock, resp

    def close(self) -> None:
        """Closes the idle connections; those in use are closed when given back."""
        with self._lock:
            self._closed = True
            idle = [c for c, _ in self._idle]
            self._idle.clear()
        for c in idle:
            c.close()
