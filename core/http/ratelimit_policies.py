"""Rate-limit policies and the backend protocol that stores their state.

* :class:`TokenBucket` -- ``capacity`` units that refill (a leaky bucket that leaks) at
  ``refill_per_second``. Shopify's REST bucket, HubSpot's search limit (4/s).
* :class:`SlidingWindow` -- at most ``limit`` units in any rolling ``window_seconds``.
  HubSpot's general limit (100 per 10 s).

Both keep ``safety_margin`` (a fraction of the capacity) free, so that requests already in
flight cannot fill the server's own bucket. With ``learn=True`` the limiter takes the
capacity, window and rate the *server* reports over the configured starting values.
A backend (:class:`LimiterBackend`) applies policies atomically; the memory and Redis
backends implement the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol


@dataclass(frozen=True)
class TokenBucket:
    """``capacity`` units refilled at ``refill_per_second`` (equivalently: a leaky bucket).

    :param capacity: burst size; with ``learn`` only the starting guess.
    :param refill_per_second: steady rate; with ``learn`` only the starting guess, scaled
        when the server reports another capacity (40 at 2/s becomes 80 at 4/s) and then
        estimated from the server's reports.
    :param safety_margin: fraction of the capacity kept free (0.1 keeps 4 of 40 free).
    :param learn: adopt what the server reports through :meth:`RateLimiter.observe`.
    :param learn_interval: shortest span, in seconds, of one leak-rate estimate.
    """

    capacity: float
    refill_per_second: float
    safety_margin: float = 0.0
    learn: bool = False
    learn_interval: float = 2.0

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.refill_per_second <= 0:
            raise ValueError("capacity and refill_per_second must be positive")
        if not 0 <= self.safety_margin < 1:
            raise ValueError("safety_margin is a fraction in [0, 1)")

    def spec(self) -> dict[str, Any]:
        """Return the policy as the plain mapping the backends store and script on."""
        return {
            "kind": "bucket",
            "capacity": float(self.capacity),
            "rate": float(self.refill_per_second),
            "margin": float(self.safety_margin),
            "learn": self.learn,
            "learn_interval": float(self.learn_interval),
        }


@dataclass(frozen=True)
class SlidingWindow:
    """At most ``limit`` units in any rolling window of ``window_seconds``.

    :param limit: units per window; with ``learn`` only the starting guess.
    :param window_seconds: the window; with ``learn`` only the starting guess.
    :param safety_margin: fraction of ``limit`` kept free.
    :param learn: adopt the limit and window the server reports.
    """

    limit: int
    window_seconds: float
    safety_margin: float = 0.0
    learn: bool = False

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_seconds <= 0:
            raise ValueError("limit and window_seconds must be positive")
        if not 0 <= self.safety_margin < 1:
            raise ValueError("safety_margin is a fraction in [0, 1)")

    def spec(self) -> dict[str, Any]:
        """Return the policy as the plain mapping the backends store and script on."""
        return {
            "kind": "window",
            "limit": float(self.limit),
            "window": float(self.window_seconds),
            "margin": float(self.safety_margin),
            "learn": self.learn,
        }


Policy = TokenBucket | SlidingWindow


class Decision(NamedTuple):
    """A backend's answer to one attempt: admitted when ``wait`` is 0; ``now`` is its clock."""

    wait: float
    now: float


class LimiterBackend(Protocol):
    """Where limiter state lives. Every method is atomic across all users of the backend."""

    def try_acquire(self, key: str, policies: Mapping[str, Policy], cost: float) -> Decision:
        """Admit ``cost`` units under every policy, or admit nothing and say how long to wait."""

    def observe_bucket(
        self, key: str, name: str, policy: TokenBucket, *, used: float, capacity: float, cost: float
    ) -> None:
        """Record a server report of a bucket's fill level (``cost`` units were counted)."""

    def observe_window(
        self,
        key: str,
        name: str,
        policy: SlidingWindow,
        *,
        remaining: float,
        limit: float,
        window: float,
    ) -> None:
        """Record a server report of what is left in its window."""

    def settle(self, key: str, policies: Mapping[str, Policy], cost: float) -> None:
        """Mark ``cost`` admitted units as answered or failed: no longer in flight."""

    def pause(self, key: str, seconds: float) -> None:
        """Admit nothing under ``key`` for ``seconds`` (extends, never shortens, a pause)."""

    def state(self, key: str, name: str, policy: Policy) -> dict[str, float]:
        """Return the current (learned) parameters and fill of one policy, for inspection."""
