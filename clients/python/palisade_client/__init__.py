"""Palisade's Python client: ask before the password check, report the outcome after.

>>> from palisade_client import Client
>>> with Client("http://127.0.0.1:8080", api_key) as palisade:          # doctest: +SKIP
...     d = palisade.decide({"kind": "sign_in", "user": "alice",
...                          "ip": "203.0.113.7", "outcome": "attempt"})
...     palisade.report({"kind": "sign_in", "user": "alice", "ip": "203.0.113.7",
...                      "outcome": "success"})

Policy in one paragraph: ``decide`` never raises for an outage; within its
budget (50 ms by default) it answers Palisade's decision, or else a *degraded*
one, ``allow`` when failing open (the default) or ``challenge`` with MFA
required when failing closed. A 4xx (a wrong key, a refused field) raises
:class:`PalisadeError`. ``report`` queues outcomes (10,000 at most) that a
background worker posts in batches (500 at most) and retries with backoff
(0.1 s to 5 s, honouring ``Retry-After``) for as long as the client lives,
which is safe because the server counts an event once by ``(event_id,
outcome)``. See :mod:`palisade_client.client` for the details and every limit,
and :mod:`palisade_client.aio` for :class:`AsyncClient`, the same on asyncio.

``Client`` runs on the standard library alone (``http.client``);
``AsyncClient`` needs httpx, the extra ``async`` (``pip install
'palisade-client[async]'``), and is imported on first use, so that
``import palisade_client`` neither needs nor loads httpx.
"""

from typing import TYPE_CHECKING, Any

from ._common import (
    InvalidEventError,
    PalisadeError,
    PasswordFieldError,
    enforcement_key,
    fold_user,
    password_sha1,
)
from ._types import (
    Accepted,
    Decision,
    Enforcement,
    Event,
    FeedbackEffect,
    Reason,
    Stats,
    UserEvent,
    UserEventsPage,
)
from .client import Client

if TYPE_CHECKING:
    from .aio import AsyncClient

__version__ = "0.1.0"

__all__ = [
    "Accepted",
    "AsyncClient",
    "Client",
    "Decision",
    "Enforcement",
    "Event",
    "FeedbackEffect",
    "InvalidEventError",
    "PalisadeError",
    "PasswordFieldError",
    "Reason",
    "Stats",
    "UserEvent",
    "UserEventsPage",
    "enforcement_key",
    "fold_user",
    "password_sha1",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # AsyncClient on first use: importing it loads httpx (when installed).
    if name == "AsyncClient":
        from .aio import AsyncClient

        globals()["AsyncClient"] = AsyncClient
        return AsyncClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
