"""Typed shapes of what Palisade takes and answers (docs/openapi.json).

Everything is a plain ``dict`` at run time (JSON in, JSON out); these
``TypedDict``s only tell a type checker which keys to expect. ``Stats`` is a
frozen dataclass: a snapshot of the client's counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Literal, Optional, TypedDict

Kind = Literal["sign_in", "sign_up", "password_change", "password_reset"]
Outcome = Literal["attempt", "success", "failure"]
FailureReason = Literal["bad_password", "unknown_user", "mfa_failed", "locked"]
Action = Literal["allow", "challenge", "block"]
FailMode = Literal["open", "closed"]
Verdict = Literal["legitimate", "fraudulent"]


class _EventRequired(TypedDict):
    kind: Kind
    user: str
    ip: str
    outcome: Outcome


class Event(_EventRequired, total=False):
    """One sign-in event. Never a password: ``password_sha1`` carries its
    SHA-1 (see :func:`palisade_client.password_sha1`)."""

    event_id: str  # filled with a random UUID4 by the client when missing
    timestamp: str  # RFC 3339; report() stamps it when missing
    user_exists: bool
    failure_reason: FailureReason
    user_agent: str
    device_id: str
    password_sha1: str
    mfa: Literal["none", "passed", "failed"]
    tenant: str
    label: str


class Reason(TypedDict):
    code: str
    score: float
    detail: str


class _DecisionRequired(TypedDict):
    event_id: str
    action: Action
    risk_level: str  # low | medium | high
    risk_score: float
    reasons: List[Reason]
    compromised_password: bool
    enforced: bool
    rules_version: str
    model_version: str
    degraded: bool  # added by the client: True when the fail mode answered


class Decision(_DecisionRequired, total=False):
    """The server's decision plus ``degraded`` (and ``error`` when degraded).

    A degraded decision (Palisade did not answer in time, or not with a
    decision) has ``degraded=True``, ``error`` saying why, ``reasons=[]``,
    ``risk_score=0``, ``risk_level`` ``low`` (open) or ``medium`` (closed),
    ``enforced=False`` and empty ``rules_version``/``model_version``."""

    audit_action: Literal["challenge", "block"]
    mfa: Literal["if_configured", "required"]
    error: str


class _AcceptedRequired(TypedDict):
    accepted: int


class Accepted(_AcceptedRequired, total=False):
    decided: int
    duplicates: int  # already decided (same event_id and outcome): not applied again


class _EnforcementRequired(TypedDict):
    action: Literal["block", "require_password_reset"]
    scope: Literal["ip", "network", "user_ip", "user", "asn", "device"]
    rule: str  # the rule id, or "feedback"
    event_id: str
    issued_at: str


class Enforcement(_EnforcementRequired, total=False):
    user: str
    tenant: str
    ip: str
    network: str  # CIDR: IPv4 /24, IPv6 /64
    asn: int
    device_id: str
    until: str


class FeedbackEffect(TypedDict, total=False):
    """What a verdict changed. The server answers more keys than these
    (``learned``, ``forgotten``, ``marked``, ``blocked``, ``lifted``, ...)."""

    event_id: str
    verdict: Verdict
    enforcements: List[Enforcement]
    password_reset_required: bool
    enforced: bool


class UserEvent(TypedDict, total=False):
    seq: int
    event: Event
    has_password: bool
    decision: Decision  # as the server stored it: no ``degraded`` key
    feedback: Optional[Verdict]


class _UserEventsPageRequired(TypedDict):
    events: List[UserEvent]


class UserEventsPage(_UserEventsPageRequired, total=False):
    next: Optional[int]  # pass as ``before`` for the next page; None/absent on the last


@dataclass(frozen=True)
class Stats:
    """A snapshot of a client's counters since it was made.

    ``sent``: outcomes the server acknowledged (202), duplicates included;
    ``dropped``: outcomes given up (queue full, refused by a 4xx, report()
    after close(), still queued when close() gave up); ``retries``: POSTs of
    outcomes (and reconnections of the enforcement stream) tried again;
    ``degraded``: decisions the fail mode answered; ``duplicates``: outcomes
    the server had already applied (a retry of a delivered batch, or the same
    event reported twice); ``pending``: outcomes queued or in flight now.
    """

    sent: int = 0
    dropped: int = 0
    retries: int = 0
    degraded: int = 0
    duplicates: int = 0
    pending: int = 0

    @property
    def dropped_outcomes(self) -> int:
        """Alias of ``dropped`` (the contract's name for it)."""
        return self.dropped
