"""The synchronous Palisade client: the calls an auth service makes during sign-in.

Fail open or fail closed
    ``decide(event)`` asks before the password is checked. Its timeout
    (``decide_timeout``, 50 ms by default) is the whole budget of the call,
    connecting, sending and every read together.
    When Palisade does not answer a decision in time (a timeout, a connection
    error, an HTTP 5xx such as 503 ``overloaded``, a 408 or 429, or a 200 whose
    body is not a decision) ``decide`` does not raise: it answers a *degraded*
    decision, ``action="allow"`` when failing open (the default, for ordinary
    accounts) or ``action="challenge"`` with ``mfa="required"`` when failing
    closed (admin and high-value accounts: an outage asks for the second
    factor, it never locks people out), with ``degraded=True`` and ``error``
    saying why, counts it in ``stats.degraded`` and calls ``on_error``.
    A 400, 401, 404, 413 or 422 is a bug in the caller or its configuration
    (a wrong key, a refused field) and raises :class:`PalisadeError`: an outage
    is quiet, a mistake is loud. An event with a plain-text password field
    (``password``, ``Password``, ``pwd``, ``new-password``, ...) is refused with
    :class:`PasswordFieldError` before anything is sent.

Which calls retry, and why that is safe
    Palisade counts an event once by ``(event_id, outcome)``: a retried
    ``/v1/decide`` is answered from its history, a retried ``/v1/events``
    counts the batch's events as ``duplicates``. The client fills a missing
    ``event_id`` with a random UUID4 before the first try so that every retry
    carries the same one.

    - ``decide``: not retried (its deadline is the whole budget), except once
      at once, inside the same deadline, when a kept-alive connection turns
      out to have been closed by the server before any byte of the answer was
      read (a reset, a broken pipe, or a close before the status line).
    - ``report``: retried by the background worker for as long as the client
      lives, on a timeout, a connection error, a 5xx, 408 or 429, with
      exponential backoff (0.1 s doubling to 5 s, up to 20% jitter taken off),
      or after ``Retry-After`` seconds when the server sends it (at most 60 s).
      A 4xx is not retried: a 422 naming ``[i].field`` drops event ``i`` only
      (the server refuses a batch whole, so the rest is sent again without
      it); a 413 splits the batch in two; any other 4xx (a wrong key) drops
      the batch. Each drop is counted in ``stats.dropped`` and told to
      ``on_error``.
    - ``send_events``: retried like ``report`` until its ``timeout`` (2 s by
      default) runs out, then raises.
    - ``feedback``, ``user_events``, ``is_password_breached``, ``health``: not
      retried (a verdict is a deliberate act; the caller sees the error).
      All but ``feedback`` are, like ``decide``, sent again at once on a new
      connection when a kept-alive one turns out to have been closed before
      any byte of the answer (as are outcome batches, before any backoff):
      that is a connection the server had let go, not a failed call.
    - ``enforcements()``: the stream reconnects with the same backoff on a
      disconnect, a 5xx or a final ``{"error": {"code": "lagged"}}`` line;
      the server replays what is in force first, so an enforcement may come
      twice (key them with :func:`enforcement_key`).

Limits
    - outcome queue: ``outcome_queue_size`` (10,000) outcomes queued or in
      flight; beyond it ``report`` drops the new one (``stats.dropped``).
    - batch: ``outcome_batch_size`` (500) outcomes and at most 1 MiB of JSON
      per ``POST /v1/events`` (the server takes 10,000 and 4 MiB); the worker
      waits up to ``outcome_flush_interval`` (50 ms) after the first queued
      outcome to fill a batch.
    - backoff: 0.1 s doubling to a cap of 5 s; ``Retry-After`` honoured up to 60 s.
    - timeouts: ``decide_timeout`` 50 ms (whole call); ``timeout`` 2 s for
      every other call and for each outcome POST; ``flush``/``close`` wait at
      most 5 s by default.
    - connections: the standard library's ``http.client`` (no third-party
      package) over one pool of kept-alive connections: a LIFO stack of at
      most 32 idle connections (``MAX_IDLE_CONNECTIONS``), each reused for at
      most 5 s of idleness (the server closes idle ones after 10 s); a thread
      that finds none idle opens one (no cap, no waiting); TCP_NODELAY and TCP
      keepalive on; https with ``ssl.create_default_context()``; environment
      proxies ignored (a proxy on the sign-in path is latency and a failure
      mode of its own). The enforcement feed has a connection of its own.

``report`` stamps ``timestamp`` (the current UTC time) on an outcome that has
none, so an outcome delivered late (batched, or after an outage) is counted at
the time it happened, not when it arrived: failures spread over ten minutes
must not look like a burst. This relies on the host's clock being right to
within the server's ``event_time.max_ahead`` (5 minutes); an outcome more than
``max_lateness`` (1 hour) late is refused (422 on ``timestamp``) and dropped.
"""

from __future__ import annotations

import atexit
import collections
import http.client
import json
import socket
import threading
import time
import weakref
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Set, Tuple
from urllib.parse import quote, urlencode

from ._common import (
    DEFAULT_DECIDE_TIMEOUT,
    DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_OUTCOME_BATCH_SIZE,
    DEFAULT_OUTCOME_FLUSH_INTERVAL,
    DEFAULT_OUTCOME_QUEUE_SIZE,
    DEFAULT_TIMEOUT,
    MAX_BATCH_BYTES,
    STREAM_IDLE,
    STREAM_STABLE,
    Backoff,
    ErrorSink,
    InvalidEventError,
    PalisadeError,
    as_decision,
    batch_index,
    check_api_key,
    check_base_url,
    check_event,
    check_fail_mode,
    degraded_decision,
    dumps,
    error_from,
    is_retryable_status,
    now_rfc3339,
    parse_range,
    password_sha1,
    retry_after,
    user_events_path,
)
from ._transport import KEEPALIVE_EXPIRY as KEEPALIVE_EXPIRY  # the pool's limits, named here too
from ._transport import MAX_IDLE_CONNECTIONS as MAX_IDLE_CONNECTIONS
from ._transport import USER_AGENT, ClientClosed, Pool, Response, TransportError
from ._types import Accepted, Decision, Enforcement, FailMode, FeedbackEffect, Stats, UserEventsPage

__all__ = ["Client"]


#: The longest enforcement line read (bytes); the server's are well under 1 KiB.
MAX_LINE = 1 << 20


def _interrupt(sock: socket.socket) -> None:
    """Wakes a read blocked on a streamed response from another thread:
    shutting the socket down does (closing it would not)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _stream_why(exc: BaseException, idle: float) -> str:
    if isinstance(exc, socket.timeout):
        return f"no line within {idle:g} s (ReadTimeout)"
    return f"{type(exc).__name__}: {str(exc) or type(exc).__name__}"[:300]


class Client:
    """A thread-safe Palisade client over one pool of keep-alive connections
    (the standard library's ``http.client``: no third-party package).

    ``Client(base_url, api_key)``; use it as a context manager or call
    :meth:`close` so that reported outcomes are flushed. See the module
    docstring for the fail modes, the retries and the limits.

    :param base_url: such as ``http://127.0.0.1:8080`` (a trailing ``/`` is fine;
        a path prefix behind a proxy too).
    :param api_key: sent as ``Authorization: Bearer ...`` on ``/v1`` calls only;
        never shown by ``repr``, ``str``, logs or errors.
    :param decide_timeout: the whole budget of a ``decide`` call, in seconds (0.05).
    :param timeout: every other call, in seconds (2.0).
    :param fail_mode: what ``decide`` answers when Palisade does not:
        ``"open"`` (allow) or ``"closed"`` (challenge, MFA required).
    :param outcome_queue_size: outcomes queued or in flight at most (10,000).
    :param outcome_batch_size: outcomes per POST (500; at most 10,000).
    :param outcome_flush_interval: how long the worker waits for a batch to
        fill after the first outcome (0.05 s).
    :param on_error: called with a :class:`PalisadeError` for every degraded
        decision, retry, drop and stream reconnection: log it. It runs on the
        caller's thread for ``decide`` and on the worker's for outcomes; it
        must be quick and must not call ``flush``/``close``. Without it they
        are logged on the ``palisade_client`` logger (at most one a second).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        decide_timeout: float = DEFAULT_DECIDE_TIMEOUT,
        timeout: float = DEFAULT_TIMEOUT,
        fail_mode: FailMode = "open",
        outcome_queue_size: int = DEFAULT_OUTCOME_QUEUE_SIZE,
        outcome_batch_size: int = DEFAULT_OUTCOME_BATCH_SIZE,
        outcome_flush_interval: float = DEFAULT_OUTCOME_FLUSH_INTERVAL,
        on_error: Optional[Callable[[BaseException], Any]] = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.__key = check_api_key(api_key)
        if not decide_timeout > 0 or not timeout > 0:
            raise ValueError("decide_timeout and timeout must be > 0 (seconds)")
        if not 1 <= outcome_queue_size:
            raise ValueError("outcome_queue_size must be at least 1")
        if not 1 <= outcome_batch_size <= 10_000:
            raise ValueError("outcome_batch_size must be 1 to 10,000 (the server's limit per batch)")
        if not outcome_flush_interval >= 0:
            raise ValueError("outcome_flush_interval must be >= 0 (seconds)")
        self.decide_timeout = float(decide_timeout)
        self.timeout = float(timeout)
        self.fail_mode: FailMode = check_fail_mode(fail_mode)
        self.outcome_queue_size = int(outcome_queue_size)
        self.outcome_batch_size = int(outcome_batch_size)
        self.outcome_flush_interval = float(outcome_flush_interval)
        self._sink = ErrorSink(on_error)

        self._pool = Pool(self.base_url)
        self._plain = {"user-agent": USER_AGENT}
        self._auth = {"user-agent": USER_AGENT, "authorization": f"Bearer {self.__key}"}
        self._json_auth = {**self._auth, "content-type": "application/json"}

        self._counts = {"sent": 0, "dropped": 0, "retries": 0, "degraded": 0, "duplicates": 0}
        self._counts_lock = threading.Lock()

        # The outcome queue, its worker and their state, under one condition.
        self._cond = threading.Condition()
        self._queue: Deque[Tuple[str, bytes]] = collections.deque()
        self._in_flight = 0
        self._flushing = 0
        self._closing = False
        self._closed = False
        self._worker: Optional[threading.Thread] = None
        self._abort = threading.Event()  # close() gave up waiting: stop retrying
        self._streams_stop = threading.Event()  # close(): end enforcement streams
        self._streams: Set[socket.socket] = set()  # the sockets of open enforcement streams
        self._atexit: Optional[Callable[[], None]] = None

    # -- plumbing -------------------------------------------------------------

    def __repr__(self) -> str:
        return f"palisade_client.Client({self.base_url!r}, fail_mode={self.fail_mode!r})"

    __str__ = __repr__

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _count(self, name: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += n

    @property
    def stats(self) -> Stats:
        """A snapshot of the counters (see :class:`Stats`)."""
        with self._counts_lock:
            c = dict(self._counts)
        return Stats(pending=self.pending, **c)

    @property
    def pending(self) -> int:
        """Outcomes queued or in flight."""
        with self._cond:
            return len(self._queue) + self._in_flight

    def _call(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        ok: Tuple[int, ...] = (200,),
        body: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
        retry_stale: bool = True,
    ) -> Response:
        """One request with the general timeout; raises PalisadeError for
        anything but ``ok`` (status 0, code ``unreachable``, without an answer)."""
        h = dict(self._json_auth if auth else self._plain)
        h.update(headers or {})
        try:
            resp = self._pool.request(method, path, time.monotonic() + self.timeout, h, body, retry_stale=retry_stale)
        except TransportError as exc:
            raise PalisadeError(0, "unreachable", exc.why(self.timeout)) from exc
        except ClientClosed as exc:
            raise PalisadeError(0, "closed", "the client is closed") from exc
        if resp.status_code not in ok:
            raise error_from(resp.status_code, resp.content)
        return resp

    # -- decide -----------------------------------------------------------------

    def decide(self, event: Mapping[str, Any], *, fail_mode: Optional[FailMode] = None, timeout: Optional[float] = None) -> Decision:
        """Asks Palisade about ``event`` (usually ``outcome: "attempt"``, before
        the password is checked) and answers its decision, ``degraded=False``.

        Never raises for an outage: answers a degraded decision per
        ``fail_mode`` (this call's, else the client's) within ``timeout``
        (this call's budget in seconds, else ``decide_timeout``). Raises
        :class:`PalisadeError` on a 4xx and :class:`PasswordFieldError` for a
        password field. A missing ``event_id`` is filled (a UUID4) and is in
        the answer.
        """
        e = check_event(event)
        mode = self.fail_mode if fail_mode is None else check_fail_mode(fail_mode)
        budget = self.decide_timeout if timeout is None else float(timeout)
        body = dumps(e)
        try:
            # A kept-alive connection the server had closed is replaced once, at
            # once, inside the same deadline (decide is idempotent by event_id).
            resp = self._pool.request("POST", "/v1/decide", time.monotonic() + budget, self._json_auth, body, retry_stale=True)
        except TransportError as exc:
            return self._degrade(e, exc.why(budget), mode, exc)
        except ClientClosed as exc:  # used after close()
            return self._degrade(e, "the client is closed", mode, exc)
        status = resp.status_code
        if status == 200:
            d = as_decision(resp.content)
            if d is not None:
                return d
            return self._degrade(e, "the answer is not a decision", mode, PalisadeError(200, "bad_answer", "the answer is not a decision"))
        if is_retryable_status(status) or status < 400:
            err = error_from(status, resp.content)
            return self._degrade(e, f"{status} {err.code}", mode, err)
        raise error_from(status, resp.content)

    def _degrade(self, e: Mapping[str, Any], reason: str, mode: FailMode, exc: BaseException) -> Decision:
        self._count("degraded")
        err = exc if isinstance(exc, PalisadeError) else PalisadeError(0, "unreachable", reason)
        if err is not exc:
            err.__cause__ = exc
        self._sink(err)
        return degraded_decision(e, reason, mode)

    # -- outcomes -------------------------------------------------------------

    def report(self, event: Mapping[str, Any]) -> None:
        """Queues an outcome (``success`` or ``failure``) for ``/v1/events`` and
        returns at once: never blocks, never raises for the network.

        A background worker sends it in a batch and retries until it is
        delivered. Fills ``event_id`` and stamps ``timestamp`` when missing.
        When the queue is full (or the client closed) the outcome is dropped,
        counted and told to ``on_error``. Raises only for a caller's bug: a
        password field, an ``attempt``, a value JSON cannot hold.
        """
        e = check_event(event, outcome_only=True)
        if e.get("timestamp") is None:
            e["timestamp"] = now_rfc3339()
        item = (str(e["event_id"]), dumps(e))
        with self._cond:
            if self._closing:
                err = PalisadeError(0, "closed", f"report() after close(): outcome {item[0]} dropped")
            elif len(self._queue) + self._in_flight >= self.outcome_queue_size:
                err = PalisadeError(0, "queue_full", f"the outcome queue is full ({self.outcome_queue_size}); outcome {item[0]} dropped")
            else:
                self._queue.append(item)
                if self._worker is None:
                    self._start_worker()
                self._cond.notify_all()
                return
        self._count("dropped")
        self._sink(err)

    def _start_worker(self) -> None:
        # Under self._cond.
        self._worker = threading.Thread(target=self._run, name="palisade-outcomes", daemon=True)
        self._worker.start()
        ref = weakref.ref(self)

        def at_exit() -> None:  # flush what is queued when the interpreter exits
            c = ref()
            if c is not None:
                c.close(timeout=2.0)

        self._atexit = at_exit
        atexit.register(at_exit)

    def _run(self) -> None:
        backoff = Backoff()
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return  # closing, and nothing left
                # Wait a little for a fuller batch, unless flushing or closing.
                end = time.monotonic() + self.outcome_flush_interval
                while len(self._queue) < self.outcome_batch_size and not self._closing and not self._flushing:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch: List[Tuple[str, bytes]] = []
                size = 2
                while self._queue and len(batch) < self.outcome_batch_size:
                    n = len(self._queue[0][1]) + 1
                    if batch and size + n > MAX_BATCH_BYTES:
                        break
                    batch.append(self._queue.popleft())
                    size += n
                self._in_flight = len(batch)
            try:
                self._deliver(batch, backoff)
            except Exception as exc:
                self._count("dropped", len(batch))
                self._sink(PalisadeError(0, "internal", f"{len(batch)} outcomes dropped: {exc!r}"))
            finally:
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()

    def _deliver(self, items: List[Tuple[str, bytes]], backoff: Backoff) -> None:
        """POSTs ``items`` until delivered, dropped, or close() gives up."""
        while items:
            if self._abort.is_set():
                self._count("dropped", len(items))
                return
            body = b"[" + b",".join(b for _, b in items) + b"]"
            try:
                resp = self._pool.request("POST", "/v1/events", time.monotonic() + self.timeout, self._json_auth, body)
            except TransportError as exc:
                self._retry_wait(
                    backoff, None, PalisadeError(0, "unreachable", f"{len(items)} outcomes not sent yet: {exc.why(self.timeout)}")
                )
                continue
            except ClientClosed:  # the client was closed under us
                self._count("dropped", len(items))
                return
            status = resp.status_code
            if status in (200, 202):
                dup = 0
                try:
                    dup = int(json.loads(resp.content).get("duplicates") or 0)
                except (ValueError, AttributeError, TypeError):
                    pass
                with self._counts_lock:
                    self._counts["sent"] += len(items)
                    self._counts["duplicates"] += dup
                backoff.reset()
                return
            err = error_from(status, resp.content)
            if is_retryable_status(status) or status < 400:
                self._retry_wait(backoff, retry_after(resp.headers.get("retry-after")), err)
                continue
            if status == 413 and len(items) > 1:
                half = len(items) // 2
                self._deliver(items[:half], backoff)
                self._deliver(items[half:], backoff)
                return
            i = batch_index(err.field)
            if i is not None and 0 <= i < len(items):
                # The batch is refused whole for this one event: drop it, send the rest.
                eid, _ = items.pop(i)
                self._count("dropped")
                self._sink(PalisadeError(status, err.code, f"outcome {eid} dropped: {err.message}", err.field))
                with self._cond:
                    self._in_flight = len(items)
                continue
            # Refused for a reason no one event explains (a wrong key): retrying
            # cannot help, and keeping it would hold up every later outcome.
            self._count("dropped", len(items))
            self._sink(PalisadeError(status, err.code, f"{len(items)} outcomes dropped: {err.message}", err.field))
            return

    def _retry_wait(self, backoff: Backoff, after: Optional[float], err: PalisadeError) -> None:
        self._count("retries")
        self._sink(err)
        self._abort.wait(backoff.next_delay(after))

    def flush(self, timeout: Optional[float] = DEFAULT_FLUSH_TIMEOUT) -> bool:
        """Waits until every queued outcome is delivered (or dropped) and no
        batch is in flight, at most ``timeout`` seconds (None: no bound).
        True when nothing is pending."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._queue or self._in_flight:
                    if end is None:
                        self._cond.wait()
                        continue
                    left = end - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._flushing -= 1

    def close(self, timeout: float = DEFAULT_FLUSH_TIMEOUT) -> bool:
        """Flushes the outcomes (at most ``timeout`` seconds), then stops the
        worker, ends the enforcement streams and closes the connections.
        Outcomes still pending then are dropped and counted. True when all
        were delivered. Calling it again does nothing."""
        with self._cond:
            if self._closed:
                return not self._queue
            self._closing = True
            self._cond.notify_all()
        delivered = self.flush(timeout)
        self._abort.set()
        with self._cond:
            left = len(self._queue)
            self._queue.clear()
            self._closed = True
            self._cond.notify_all()
            worker = self._worker
        if left:
            self._count("dropped", left)
            self._sink(PalisadeError(0, "closed", f"close(): {left} outcomes not delivered in {timeout} s, dropped"))
        if worker is not None and worker is not threading.current_thread():
            worker.join(self.timeout + 1.0)
        self._streams_stop.set()
        with self._cond:
            streams = list(self._streams)
        for sock in streams:
            _interrupt(sock)
        self._pool.close()
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        return delivered

    def send_events(self, events: Iterable[Mapping[str, Any]], *, timeout: Optional[float] = None) -> Accepted:
        """POSTs outcomes now, as one batch, and answers once the server has
        applied them and written them to its journal: ``{accepted, decided,
        duplicates}``. For batch loaders: at most 10,000 events and 4 MiB (the
        server's limits; 413 beyond). Retries a timeout, a connection error
        or a 5xx with backoff until ``timeout`` (else the client's) runs out,
        then raises :class:`PalisadeError`; a 4xx raises at once (422 names
        ``[i].field``: nothing of the batch was taken). ``timestamp`` is not
        stamped: missing, it is the server's receive time."""
        evs = [check_event(e, outcome_only=True) for e in events]
        if not evs:
            return {"accepted": 0, "decided": 0, "duplicates": 0}
        body = dumps(evs)
        budget = self.timeout if timeout is None else float(timeout)
        deadline = time.monotonic() + budget
        backoff = Backoff()
        while True:
            try:
                resp = self._pool.request("POST", "/v1/events", deadline, self._json_auth, body)
            except TransportError as exc:
                err = PalisadeError(0, "unreachable", exc.why(budget))
                err.__cause__ = exc
                after = None
            except ClientClosed as exc:
                raise PalisadeError(0, "closed", "the client is closed") from exc
            else:
                if resp.status_code in (200, 202):
                    return json.loads(resp.content)  # type: ignore[no-any-return]
                err = error_from(resp.status_code, resp.content)
                if not is_retryable_status(resp.status_code):
                    raise err
                after = retry_after(resp.headers.get("retry-after"))
            delay = backoff.next_delay(after)
            if deadline - time.monotonic() <= delay:
                raise err
            self._count("retries")
            time.sleep(delay)

    # -- the rest of the API ----------------------------------------------------

    def feedback(self, event_id: str, verdict: str) -> FeedbackEffect:
        """Says whether a recent event was the user (``legitimate``) or not
        (``fraudulent``); answers what changed. Not retried. Raises
        :class:`PalisadeError` (404 ``unknown_event`` for an event no longer in
        the history; status 0 ``unreachable`` without an answer)."""
        if verdict not in ("legitimate", "fraudulent"):
            raise InvalidEventError(0, "invalid_field", f'verdict must be "legitimate" or "fraudulent", got {verdict!r}', "verdict")
        resp = self._call("POST", "/v1/feedback", body=dumps({"event_id": event_id, "verdict": verdict}), retry_stale=False)
        return resp.json()  # type: ignore[no-any-return]

    def user_events(self, user: str, *, limit: int = 20, before: Optional[int] = None, tenant: Optional[str] = None) -> UserEventsPage:
        """One page of a user's recent events with their decisions, newest
        first (``limit`` 1 to 100). Pass the page's ``next`` as ``before`` for
        the next one; it is None or absent on the last."""
        params: Dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        if tenant is not None:
            params["tenant"] = tenant
        resp = self._call("GET", user_events_path(user) + "?" + urlencode(params, quote_via=quote))
        return resp.json()  # type: ignore[no-any-return]

    def enforcements(self, stop: Optional[threading.Event] = None, *, idle: float = STREAM_IDLE) -> Iterator[Enforcement]:
        """The enforcement feed (``GET /v1/decisions/stream``): a generator of
        enforcements, what is in force first, then each as it is issued.

        Reconnects with backoff (0.1 s doubling to 5 s) on a disconnect, a
        5xx or a ``lagged`` line; the server replays what is in force on each
        connection, so the same enforcement can come again (key them with
        :func:`enforcement_key`). A connection silent for ``idle`` seconds
        (45: three of the server's 15 s heartbeats, ``server.stream_heartbeat``)
        is taken for dead and made again. Ends when ``stop`` is set (within about
        0.1 s, even while waiting for the next line), when the client is
        closed, or when the caller stops iterating. Raises
        :class:`PalisadeError` on a 4xx (a wrong key)."""
        backoff = Backoff()
        while not self._stream_stopped(stop):
            started = time.monotonic()
            try:
                # A connection of its own (not pooled): connecting and sending
                # within ``timeout``, then each read within ``idle``.
                conn, sock, resp = self._pool.stream("/v1/decisions/stream", self._auth, self.timeout, idle)
            except TransportError as exc:
                self._sink(PalisadeError(0, "stream", f"enforcement stream: {exc.why(self.timeout)}"))
            except ClientClosed:
                return
            else:
                try:
                    if resp.status != 200:
                        conn.deadline = time.monotonic() + self.timeout
                        try:
                            content = resp.read()
                        except (OSError, http.client.HTTPException):
                            content = b""
                        err = error_from(resp.status, content)
                        if not is_retryable_status(resp.status):
                            raise err
                        self._sink(err)
                    else:
                        done = threading.Event()
                        with self._cond:
                            self._streams.add(sock)
                        threading.Thread(
                            target=self._watch_stream, args=(sock, stop, done), name="palisade-stream-stop", daemon=True
                        ).start()
                        try:
                            # http.client undoes the chunked encoding; each read of the socket waits at most ``idle``.
                            while True:
                                raw = resp.readline(MAX_LINE)
                                if self._stream_stopped(stop):
                                    return
                                if not raw:  # the server ended the stream
                                    break
                                line = raw.strip()
                                if not line:
                                    continue  # a heartbeat
                                try:
                                    item = json.loads(line)
                                except ValueError:
                                    self._sink(PalisadeError(200, "bad_answer", f"enforcement stream: not JSON: {line[:100]!r}"))
                                    continue
                                if isinstance(item, dict) and "error" in item:
                                    e = item.get("error") or {}
                                    self._sink(
                                        PalisadeError(
                                            200,
                                            str(e.get("code") or "stream"),
                                            f"enforcement stream: {e.get('message') or ''}; reconnecting",
                                        )
                                    )
                                    break
                                yield item
                        except (OSError, http.client.HTTPException) as exc:
                            if self._stream_stopped(stop):
                                return
                            self._sink(PalisadeError(0, "stream", f"enforcement stream: {_stream_why(exc, idle)}"))
                        finally:
                            done.set()
                            with self._cond:
                                self._streams.discard(sock)
                finally:
                    resp.close()
                    conn.close()
            if self._stream_stopped(stop):
                return
            if time.monotonic() - started > STREAM_STABLE:
                backoff.reset()
            self._count("retries")
            self._stream_sleep(backoff.next_delay(), stop)

    def _stream_stopped(self, stop: Optional[threading.Event]) -> bool:
        return self._streams_stop.is_set() or (stop is not None and stop.is_set())

    def _stream_sleep(self, delay: float, stop: Optional[threading.Event]) -> None:
        end = time.monotonic() + delay
        while not self._stream_stopped(stop):
            left = end - time.monotonic()
            if left <= 0:
                return
            self._streams_stop.wait(min(left, 0.05))

    def _watch_stream(self, sock: socket.socket, stop: Optional[threading.Event], done: threading.Event) -> None:
        """Ends a stream blocked on its next line when ``stop`` is set."""
        while not done.wait(0.05):
            if self._stream_stopped(stop):
                _interrupt(sock)
                return

    def is_password_breached(self, password: str | bytes) -> int:
        """How often the server's breach corpus saw ``password`` (0: not in it),
        asked by k-anonymity: only the first 5 hex digits of its SHA-1 leave
        the process, the answer is padded (``Add-Padding: true``), and no key
        is sent. Raises :class:`PalisadeError` (404 ``no_corpus`` when the
        server has no corpus; status 0 ``unreachable`` without an answer)."""
        h = password_sha1(password)
        resp = self._call("GET", "/range/" + h[:5], auth=False, headers={"add-padding": "true"})
        return parse_range(resp.text, h[5:])

    def health(self) -> bool:
        """True when ``GET /healthz`` answers 200 within ``timeout``."""
        try:
            resp = self._pool.request("GET", "/healthz", time.monotonic() + self.timeout, self._plain)
        except (TransportError, ClientClosed):
            return False
        return resp.status_code == 200
