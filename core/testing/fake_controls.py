"""Knobs shared by the fake remote APIs: a controllable clock, fault injection, counters.

Each fake server (``crmhub.plugins.<name>.fake``) owns one of each:

- :class:`Clock` decides what "now" is for record timestamps (``created_at``,
  ``updated_at``, webhook times), so a test can travel in time between two syncs;
- :class:`FaultInjector` turns every Nth request, or a seeded random share of them, into a
  500/502/503 and can add latency, like a flaky storefront behind a load balancer;
- :class:`Counters` counts requests, 429s and injected 5xx per endpoint, for assertions
  and benchmark tables.

All three are thread-safe: the fake serves from uvicorn's thread while the test mutates it.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["Clock", "Counters", "FaultInjector", "FaultPlan"]


class Clock:
    """The fake's notion of now: real UTC time plus an offset, or a frozen instant.

    ``Clock()`` follows the wall clock; ``advance(days=3)`` shifts it. ``Clock(start)`` (or
    ``set(when)``) freezes it at ``start``; ``advance`` then moves the frozen instant.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = _aware(start) if start is not None else None

    def now(self) -> datetime:
        """Return the current fake time as an aware UTC datetime."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(timezone.utc) + self._offset

    def __call__(self) -> datetime:
        return self.now()

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move time forward by ``seconds`` plus any ``timedelta`` keywords; returns the new now."""
        step = timedelta(seconds=seconds, **delta)
        with self._lock:
            if self._frozen is not None:
                self._frozen += step
            else:
                self._offset += step
        return self.now()

    def set(self, when: datetime) -> None:
        """Freeze the clock at ``when`` (naive values are taken as UTC)."""
        with self._lock:
            self._frozen = _aware(when)

    def unfreeze(self) -> None:
        """Follow the wall clock again, keeping no offset."""
        with self._lock:
            self._frozen = None
            self._offset = timedelta(0)


def _aware(value: datetime) -> datetime:
    return (
        value.replace(tzinfo=timezone.utc)
        if value.tzinfo is None
        else value.astimezone(timezone.utc)
    )


@dataclass(frozen=True)
class FaultPlan:
    """What the fault injector does.

    :ivar every: every Nth checked request fails (0 = never).
    :ivar probability: share of checked requests that fail at random (seeded).
    :ivar statuses: statuses used in turn for failures, e.g. ``(500, 502, 503)``.
    :ivar latency: seconds added before every answer.
    :ivar seed: seed of the random generator used with ``probability``.
    """

    every: int = 0
    probability: float = 0.0
    statuses: tuple[int, ...] = (500, 502, 503)
    latency: float = 0.0
    seed: int = 0


class FaultInjector:
    """Decide, request by request, whether the fake answers with a server error."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self.plan = plan or FaultPlan()
        self._rng = random.Random(self.plan.seed)
        self._seen = 0
        self._failed = 0

    def configure(self, **changes: Any) -> FaultPlan:
        """Replace fields of the plan (``every=3``, ``probability=0.1``, ``latency=0.05`` …).

        The request count restarts, so ``every=3`` fails the 3rd, 6th … request from now.
        """
        with self._lock:
            self.plan = replace(self.plan, **changes)
            self._rng = random.Random(self.plan.seed)
            self._seen = 0
            self._failed = 0
            return self.plan

    def off(self) -> None:
        """Stop injecting failures and latency."""
        self.configure(every=0, probability=0.0, latency=0.0)

    @property
    def latency(self) -> float:
        """Seconds of artificial latency per request."""
        return self.plan.latency

    def decide(self) -> int | None:
        """Count one request; return the status to fail it with, or None to serve it."""
        with self._lock:
            plan = self.plan
            self._seen += 1
            fail = bool(plan.every and self._seen % plan.every == 0)
            if not fail and plan.probability > 0.0:
                fail = self._rng.random() < plan.probability
            if not fail or not plan.statuses:
                return None
            status = plan.statuses[self._failed % len(plan.statuses)]
            self._failed += 1
            return status


@dataclass
class Counters:
    """Request counters of one fake server, safe to read while it serves.

    ``requests`` counts every request, ``throttled`` the 429 answers, ``server_errors`` the
    injected 5xx, ``unauthorized`` the 401s; ``by_endpoint`` counts requests per endpoint
    name (e.g. ``"orders.list"``, ``"contacts.batch_upsert"``).
    """

    requests: int = 0
    throttled: int = 0
    server_errors: int = 0
    unauthorized: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def hit(self, endpoint: str) -> None:
        """Count one request to ``endpoint``."""
        with self._lock:
            self.requests += 1
            self.by_endpoint[endpoint] += 1

    def add(self, name: str, amount: int = 1) -> None:
        """Add to a scalar counter (``throttled``, ``server_errors``, ``unauthorized``)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def __getitem__(self, endpoint: str) -> int:
        with self._lock:
            return self.by_endpoint[endpoint]

    def snapshot(self) -> dict[str, Any]:
        """Return a plain-dict copy of all counters."""
        with self._lock:
            return {
                "requests": self.requests,
                "throttled": self.throttled,
                "server_errors": self.server_errors,
                "unauthorized": self.unauthorized,
                "by_endpoint": dict(self.by_endpoint),
            }

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self.requests = self.throttled = self.server_errors = self.unauthorized = 0
            self.by_endpoint.clear()
