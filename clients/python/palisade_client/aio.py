"""The asyncio Palisade client: the same calls and policy as :class:`palisade_client.Client`.

``AsyncClient`` is for apps on an asyncio event loop (FastAPI, aiohttp, ...).
It runs on httpx, the optional extra ``async``: ``pip install
'palisade-client[async]'`` (without it, ``AsyncClient(...)`` raises
:class:`ImportError` saying so; the sync client needs no third-party package).
Its semantics are those of the sync client, described in full in
:mod:`palisade_client.client`; in short:

- Fail open / fail closed: ``await decide(event)`` never raises for an
  outage. Within its budget (``decide_timeout``, 50 ms, the whole call) it
  answers Palisade's decision, else a degraded one: ``allow`` when failing
  open (default), ``challenge`` with ``mfa="required"`` when failing closed,
  ``degraded=True``, ``error`` saying why, ``on_error`` called. A 4xx raises
  :class:`PalisadeError`; a password field raises before anything is sent.
- Retries (safe because the server counts an event once by ``(event_id,
  outcome)``, and the client fills ``event_id`` before the first try):
  ``decide`` is not retried (except once, inside its budget, on a kept-alive
  connection the server had closed); ``report`` (a plain, non-blocking call
  made on the loop) queues the outcome for a background task that posts
  batches and retries them with backoff 0.1 s doubling to 5 s, or after
  ``Retry-After`` (at most 60 s), while the client lives, dropping only the
  event a 422 names; ``send_events`` retries until its timeout;
  ``feedback``, ``user_events``, ``is_password_breached``, ``health`` are not
  retried; ``enforcements()`` reconnects with backoff.
- Limits: outcome queue 10,000 (queued or in flight; beyond it the new
  outcome is dropped and counted); batches of 500 and at most 1 MiB of JSON;
  50 ms linger to fill a batch; ``timeout`` 2 s for every other call and each
  batch POST; ``flush``/``close`` wait 5 s by default; one httpx pool of at
  most 100 keep-alive connections (20 kept idle, for 5 s).

Use one ``AsyncClient`` per event loop, and ``await client.close()`` (or
``async with``) before the loop ends so that queued outcomes are sent.
"""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any, AsyncIterator, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Tuple

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
    keepalive_options,
    now_rfc3339,
    parse_range,
    password_sha1,
    retry_after,
    user_events_path,
)
from ._types import Accepted, Decision, Enforcement, FailMode, FeedbackEffect, Stats, UserEventsPage

# httpx is the optional extra ``async``: without it this module still imports
# (so does ``palisade_client``), and AsyncClient(...) says what to install.
_HTTPX_MISSING: Optional[ImportError] = None
try:
    import httpx

    from ._http import Deadline, limits, why
except ImportError as exc:  # pragma: no cover - tested in a subprocess
    _HTTPX_MISSING = exc

INSTALL_HINT = "palisade_client.AsyncClient needs httpx: pip install 'palisade-client[async]'"

__all__ = ["AsyncClient"]


class AsyncClient:
    """An asyncio Palisade client over one pool of keep-alive connections.

    Takes the same arguments as :class:`palisade_client.Client`; every call
    but ``report`` is a coroutine. ``on_error`` is called on the loop.
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
        if _HTTPX_MISSING is not None:
            raise ImportError(f"{INSTALL_HINT} ({_HTTPX_MISSING})", name="httpx") from _HTTPX_MISSING
        self.base_url = check_base_url(base_url)
        key = check_api_key(api_key)
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
        self._http = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(limits=limits(), socket_options=keepalive_options()),
            timeout=self.timeout,
            trust_env=False,
            follow_redirects=False,
        )
        self._auth = {"authorization": f"Bearer {key}"}
        self._json_auth = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        self._decide_url = httpx.URL(self.base_url + "/v1/decide")
        self._events_url = httpx.URL(self.base_url + "/v1/events")
        self._counts = {"sent": 0, "dropped": 0, "retries": 0, "degraded": 0, "duplicates": 0}
        self._queue: Deque[Tuple[str, bytes]] = collections.deque()
        self._in_flight = 0
        self._flushing = 0
        self._closing = False
        self._closed = False
        self._worker: Optional[asyncio.Task[None]] = None
        # Made on the loop, at first use (asyncio objects bind to a loop).
        self._wake: Optional[asyncio.Event] = None
        self._abort: Optional[asyncio.Event] = None
        self._streams_stop: Optional[asyncio.Event] = None

    def __repr__(self) -> str:
        return f"palisade_client.AsyncClient({self.base_url!r}, fail_mode={self.fail_mode!r})"

    __str__ = __repr__

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def stats(self) -> Stats:
        """A snapshot of the counters (see :class:`Stats`)."""
        return Stats(pending=self.pending, **self._counts)

    @property
    def pending(self) -> int:
        """Outcomes queued or in flight."""
        return len(self._queue) + self._in_flight

    def _events(self) -> None:
        if self._wake is None:
            self._wake, self._abort, self._streams_stop = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def _send(self, method: str, url: Any, deadline: Deadline, **kw: Any) -> httpx.Response:
        """One request, done by ``deadline`` as a whole (httpx bounds each
        step; ``wait_for`` the sum: a body dripped a byte at a time included)."""
        req = self._http.build_request(method, url, extensions={"timeout": deadline}, **kw)
        try:
            return await asyncio.wait_for(self._http.send(req), max(deadline.left(), 0.0005))
        except asyncio.TimeoutError as exc:
            raise httpx.TimeoutException("the call's deadline has passed", request=req) from exc

    async def _call(self, method: str, path: str, *, auth: bool = True, **kw: Any) -> httpx.Response:
        headers = dict(self._json_auth if auth else {})
        headers.update(kw.pop("headers", {}))
        try:
            resp = await self._send(method, self.base_url + path, Deadline(self.timeout), headers=headers, **kw)
        except httpx.TransportError as exc:
            raise PalisadeError(0, "unreachable", why(exc, self.timeout)) from exc
        except RuntimeError as exc:
            raise PalisadeError(0, "closed", "the client is closed") from exc
        if resp.status_code != 200:
            raise error_from(resp.status_code, resp.content)
        return resp

    # -- decide -----------------------------------------------------------------

    async def decide(self, event: Mapping[str, Any], *, fail_mode: Optional[FailMode] = None, timeout: Optional[float] = None) -> Decision:
        """As :meth:`palisade_client.Client.decide`."""
        e = check_event(event)
        mode = self.fail_mode if fail_mode is None else check_fail_mode(fail_mode)
        budget = self.decide_timeout if timeout is None else float(timeout)
        body = dumps(e)
        deadline = Deadline(budget)
        retried = False
        while True:
            try:
                resp = await self._send("POST", self._decide_url, deadline, content=body, headers=self._json_auth)
                break
            except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError) as exc:
                if not retried and deadline.left() > 0.002:
                    retried = True
                    continue
                return self._degrade(e, why(exc, budget), mode, exc)
            except httpx.TransportError as exc:
                return self._degrade(e, why(exc, budget), mode, exc)
            except RuntimeError as exc:
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
        self._counts["degraded"] += 1
        err = exc if isinstance(exc, PalisadeError) else PalisadeError(0, "unreachable", reason)
        if err is not exc:
            err.__cause__ = exc
        self._sink(err)
        return degraded_decision(e, reason, mode)

    # -- outcomes -------------------------------------------------------------

    def report(self, event: Mapping[str, Any]) -> None:
        """Queues an outcome and returns at once (call it on the loop; not a
        coroutine). As :meth:`palisade_client.Client.report`."""
        e = check_event(event, outcome_only=True)
        if e.get("timestamp") is None:
            e["timestamp"] = now_rfc3339()
        item = (str(e["event_id"]), dumps(e))
        if self._closing:
            err = PalisadeError(0, "closed", f"report() after close(): outcome {item[0]} dropped")
        elif len(self._queue) + self._in_flight >= self.outcome_queue_size:
            err = PalisadeError(0, "queue_full", f"the outcome queue is full ({self.outcome_queue_size}); outcome {item[0]} dropped")
        else:
            self._events()
            self._queue.append(item)
            if self._worker is None or self._worker.done():
                self._worker = asyncio.get_running_loop().create_task(self._run(), name="palisade-outcomes")
            assert self._wake is not None
            self._wake.set()
            return
        self._counts["dropped"] += 1
        self._sink(err)

    async def _wait_wake(self, timeout: Optional[float]) -> None:
        assert self._wake is not None
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff()
        while True:
            while not self._queue and not self._closing:
                await self._wait_wake(None)
            if not self._queue:
                return
            end = loop.time() + self.outcome_flush_interval
            while len(self._queue) < self.outcome_batch_size and not self._closing and not self._flushing:
                left = end - loop.time()
                if left <= 0:
                    break
                await self._wait_wake(left)
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
                await self._deliver(batch, backoff)
            except Exception as exc:  # the worker must not die
                self._counts["dropped"] += len(batch)
                self._sink(PalisadeError(0, "internal", f"{len(batch)} outcomes dropped: {exc!r}"))
            finally:
                self._in_flight = 0

    async def _deliver(self, items: List[Tuple[str, bytes]], backoff: Backoff) -> None:
        assert self._abort is not None
        while items:
            if self._abort.is_set():
                self._counts["dropped"] += len(items)
                return
            body = b"[" + b",".join(b for _, b in items) + b"]"
            try:
                resp = await self._send("POST", self._events_url, Deadline(self.timeout), content=body, headers=self._json_auth)
            except httpx.TransportError as exc:
                err = PalisadeError(0, "unreachable", f"{len(items)} outcomes not sent yet: {why(exc, self.timeout)}")
                await self._retry_wait(backoff, None, err)
                continue
            except RuntimeError:
                self._counts["dropped"] += len(items)
                return
            status = resp.status_code
            if status in (200, 202):
                dup = 0
                try:
                    dup = int(json.loads(resp.content).get("duplicates") or 0)
                except (ValueError, AttributeError, TypeError):
                    pass
                self._counts["sent"] += len(items)
                self._counts["duplicates"] += dup
                backoff.reset()
                return
            err = error_from(status, resp.content)
            if is_retryable_status(status) or status < 400:
                await self._retry_wait(backoff, retry_after(resp.headers.get("retry-after")), err)
                continue
            if status == 413 and len(items) > 1:
                half = len(items) // 2
                await self._deliver(items[:half], backoff)
                await self._deliver(items[half:], backoff)
                return
            i = batch_index(err.field)
            if i is not None and 0 <= i < len(items):
                eid, _ = items.pop(i)
                self._counts["dropped"] += 1
                self._sink(PalisadeError(status, err.code, f"outcome {eid} dropped: {err.message}", err.field))
                self._in_flight = len(items)
                continue
            self._counts["dropped"] += len(items)
            self._sink(PalisadeError(status, err.code, f"{len(items)} outcomes dropped: {err.message}", err.field))
            return

    async def _retry_wait(self, backoff: Backoff, after: Optional[float], err: PalisadeError) -> None:
        assert self._abort is not None
        self._counts["retries"] += 1
        self._sink(err)
        try:
            await asyncio.wait_for(self._abort.wait(), backoff.next_delay(after))
        except asyncio.TimeoutError:
            pass

    async def flush(self, timeout: Optional[float] = DEFAULT_FLUSH_TIMEOUT) -> bool:
        """Waits until no outcome is queued or in flight, at most ``timeout``
        seconds (None: no bound); True when none is."""
        loop = asyncio.get_running_loop()
        end = None if timeout is None else loop.time() + timeout
        self._flushing += 1
        try:
            if self._wake is not None:
                self._wake.set()
            while self.pending:
                if end is not None and loop.time() >= end:
                    return False
                await asyncio.sleep(0.005)
            return True
        finally:
            self._flushing -= 1

    async def close(self, timeout: float = DEFAULT_FLUSH_TIMEOUT) -> bool:
        """Flushes (at most ``timeout`` s), stops the worker, ends the streams
        and closes the connections; outcomes still pending are dropped and
        counted. True when all were delivered."""
        if self._closed:
            return not self._queue
        self._closing = True
        self._events()
        assert self._wake is not None and self._abort is not None and self._streams_stop is not None
        self._wake.set()
        delivered = await self.flush(timeout)
        self._abort.set()
        left = len(self._queue)
        self._queue.clear()
        self._closed = True
        self._wake.set()
        if left:
            self._counts["dropped"] += left
            self._sink(PalisadeError(0, "closed", f"close(): {left} outcomes not delivered in {timeout} s, dropped"))
        if self._worker is not None and not self._worker.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._worker), self.timeout + 1.0)
            except asyncio.TimeoutError:
                self._worker.cancel()
        self._streams_stop.set()
        await asyncio.sleep(0)  # let the streams see it
        await self._http.aclose()
        return delivered

    async def send_events(self, events: Iterable[Mapping[str, Any]], *, timeout: Optional[float] = None) -> Accepted:
        """As :meth:`palisade_client.Client.send_events`."""
        evs = [check_event(e, outcome_only=True) for e in events]
        if not evs:
            return {"accepted": 0, "decided": 0, "duplicates": 0}
        body = dumps(evs)
        budget = self.timeout if timeout is None else float(timeout)
        deadline = Deadline(budget)
        backoff = Backoff()
        while True:
            after: Optional[float] = None
            try:
                resp = await self._send("POST", self._events_url, deadline, content=body, headers=self._json_auth)
            except httpx.TransportError as exc:
                err = PalisadeError(0, "unreachable", why(exc, budget))
                err.__cause__ = exc
            except RuntimeError as exc:
                raise PalisadeError(0, "closed", "the client is closed") from exc
            else:
                if resp.status_code in (200, 202):
                    return json.loads(resp.content)  # type: ignore[no-any-return]
                err = error_from(resp.status_code, resp.content)
                if not is_retryable_status(resp.status_code):
                    raise err
                after = retry_after(resp.headers.get("retry-after"))
            delay = backoff.next_delay(after)
            if deadline.left() <= delay:
                raise err
            self._counts["retries"] += 1
            await asyncio.sleep(delay)

    # -- the rest of the API ----------------------------------------------------

    async def feedback(self, event_id: str, verdict: str) -> FeedbackEffect:
        """As :meth:`palisade_client.Client.feedback`."""
        if verdict not in ("legitimate", "fraudulent"):
            raise InvalidEventError(0, "invalid_field", f'verdict must be "legitimate" or "fraudulent", got {verdict!r}', "verdict")
        resp = await self._call("POST", "/v1/feedback", content=dumps({"event_id": event_id, "verdict": verdict}))
        return resp.json()  # type: ignore[no-any-return]

    async def user_events(
        self, user: str, *, limit: int = 20, before: Optional[int] = None, tenant: Optional[str] = None
    ) -> UserEventsPage:
        """As :meth:`palisade_client.Client.user_events`."""
        params: Dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        if tenant is not None:
            params["tenant"] = tenant
        resp = await self._call("GET", user_events_path(user), params=params)
        return resp.json()  # type: ignore[no-any-return]

    async def enforcements(self, stop: Optional[asyncio.Event] = None, *, idle: float = STREAM_IDLE) -> AsyncIterator[Enforcement]:
        """As :meth:`palisade_client.Client.enforcements`, as an async
        generator; ends when ``stop`` (an ``asyncio.Event``) is set, when the
        client is closed, or when the caller stops iterating."""
        self._events()
        assert self._streams_stop is not None
        closed = self._streams_stop
        loop = asyncio.get_running_loop()
        backoff = Backoff()
        timeouts = {"connect": self.timeout, "read": idle, "write": self.timeout, "pool": self.timeout}
        url = self.base_url + "/v1/decisions/stream"

        def stopped() -> bool:
            return closed.is_set() or (stop is not None and stop.is_set())

        async def until_stopped() -> None:
            waits = [asyncio.ensure_future(closed.wait())]
            if stop is not None:
                waits.append(asyncio.ensure_future(stop.wait()))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

        while not stopped():
            started = loop.time()
            stopper = asyncio.ensure_future(until_stopped())
            try:
                req = self._http.build_request("GET", url, headers=self._auth, extensions={"timeout": timeouts})
                resp = await self._http.send(req, stream=True)
            except httpx.TransportError as exc:
                self._sink(PalisadeError(0, "stream", f"enforcement stream: {why(exc, self.timeout)}"))
            except RuntimeError:
                stopper.cancel()
                return
            else:
                try:
                    if resp.status_code != 200:
                        await resp.aread()
                        err = error_from(resp.status_code, resp.content)
                        if not is_retryable_status(resp.status_code):
                            raise err
                        self._sink(err)
                    else:
                        lines = resp.aiter_lines()
                        while True:
                            nxt = asyncio.ensure_future(lines.__anext__())
                            await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
                            if not nxt.done():
                                nxt.cancel()
                                try:
                                    await nxt
                                except (asyncio.CancelledError, Exception):
                                    pass
                                return
                            try:
                                line = nxt.result().strip()
                            except StopAsyncIteration:
                                break
                            except httpx.TransportError as exc:
                                self._sink(PalisadeError(0, "stream", f"enforcement stream: {why(exc, self.timeout)}"))
                                break
                            if not line:
                                continue
                            try:
                                item = json.loads(line)
                            except ValueError:
                                self._sink(PalisadeError(200, "bad_answer", f"enforcement stream: not JSON: {line[:100]!r}"))
                                continue
                            if isinstance(item, dict) and "error" in item:
                                e = item.get("error") or {}
                                code = str(e.get("code") or "stream")
                                self._sink(PalisadeError(200, code, f"enforcement stream: {e.get('message') or ''}; reconnecting"))
                                break
                            yield item
                finally:
                    await resp.aclose()
            finally:
                stopper.cancel()
            if stopped():
                return
            if loop.time() - started > STREAM_STABLE:
                backoff.reset()
            self._counts["retries"] += 1
            try:
                await asyncio.wait_for(until_stopped(), backoff.next_delay())
            except asyncio.TimeoutError:
                pass

    async def is_password_breached(self, password: str | bytes) -> int:
        """As :meth:`palisade_client.Client.is_password_breached`."""
        h = password_sha1(password)
        resp = await self._call("GET", "/range/" + h[:5], auth=False, headers={"add-padding": "true"})
        return parse_range(resp.text, h[5:])

    async def health(self) -> bool:
        """True when ``GET /healthz`` answers 200 within ``timeout``."""
        try:
            resp = await self._send("GET", self.base_url + "/healthz", Deadline(self.timeout))
        except (httpx.TransportError, RuntimeError):
            return False
        return resp.status_code == 200
