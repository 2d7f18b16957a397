"""A rate limiter shared by every worker of one remote account.

A :class:`RateLimiter` names the remote account (``key``, e.g. ``"shopify:my-shop"``) and
combines one or more named policies (:class:`~crmhub.core.http.TokenBucket`,
:class:`~crmhub.core.http.SlidingWindow`); a request is admitted only when every policy has
room for it, atomically. The state lives in a backend: the in-process
:class:`~crmhub.core.http.MemoryLimiterBackend` or the
:class:`~crmhub.core.http.RedisLimiterBackend` that every worker on every machine shares.

The limiter adapts to what the server says. Its *header policy*
(:mod:`crmhub.core.http.ratelimit_headers`) reads each response and calls :meth:`observe`
(a bucket's fill: Shopify's ``32/40``) or :meth:`observe_remaining` (what is left of a
window: HubSpot's ``-Remaining``).

* A bucket report replaces the limiter's own estimate of the fill by the server's count
  plus the units still *in flight* (admitted by :meth:`acquire`, not yet answered: see
  :meth:`settle`), so other writers, a wrong rate or a lost request cannot drift it; a late
  answer never lowers the fill below what a newer report implies.
* With ``learn=True`` a policy adopts the server's capacity and window, and a token bucket
  estimates its leak rate: between two reports ``used_1`` and ``used_2`` taken ``dt``
  seconds apart, with ``n`` units counted in between, the server leaked
  ``(used_1 + n - used_2) / dt`` per second (only a lower bound when the bucket ran empty).
* The bucket is kept ``safety_margin`` short of full, so a long sync runs at the leak rate
  with the server's bucket just below the brim: near the ceiling, almost never a 429.
* A 429's ``Retry-After`` goes to :meth:`pause`, which stops the key for every worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from crmhub.core.errors import RateLimited
from crmhub.core.http.ratelimit_headers import HeaderPolicy, NoRateLimitHeaders
from crmhub.core.http.ratelimit_memory import MemoryLimiterBackend
from crmhub.core.http.ratelimit_policies import LimiterBackend, Policy, SlidingWindow, TokenBucket

if TYPE_CHECKING:
    import httpx

_EPSILON = 0.001  # added to each computed wait so that the retry lands just past the boundary


class RateLimiter:
    """Admits requests for one remote account under one or more named policies.

    :param key: the remote account, e.g. ``"hubspot:portal-123"``; every limiter with the
        same key and backend shares the same budget.
    :param policies: name -> policy, e.g. ``{"general": SlidingWindow(100, 10)}``.
    :param backend: where the state lives; a fresh in-process backend when omitted.
    :param header_policy: reads rate-limit headers; a no-op when omitted.
    :param sleep: how to wait (injectable for tests).
    """

    def __init__(
        self,
        key: str,
        policies: Mapping[str, Policy],
        *,
        backend: LimiterBackend | None = None,
        header_policy: HeaderPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not policies:
            raise ValueError("a rate limiter needs at least one policy")
        self.key = key
        self.policies: dict[str, Policy] = dict(policies)
        self.backend: LimiterBackend = backend if backend is not None else MemoryLimiterBackend()
        self.header_policy: HeaderPolicy = header_policy or NoRateLimitHeaders()
        self._sleep = sleep

    def extend(self, **policies: Policy) -> RateLimiter:
        """Return a limiter on the same key and backend with more policies.

        HubSpot search calls, for instance, count against the general limit *and* their own
        4/s: ``search = limiter.extend(search=TokenBucket(4, 4))``.
        """
        return RateLimiter(
            self.key,
            {**self.policies, **policies},
            backend=self.backend,
            header_policy=self.header_policy,
            sleep=self._sleep,
        )

    def acquire(self, cost: float = 1, *, max_wait: float | None = None) -> float:
        """Block until ``cost`` units are admitted under every policy.

        Sleeps the wait each policy computes (never spins), then tries again, since another
        worker may have taken the room in the meantime. Every admitted request must later be
        :meth:`settle`-d (:class:`~crmhub.core.http.ApiClient` does both).

        :param cost: units this request uses.
        :param max_wait: raise instead of sleeping when a single wait would be longer.
        :returns: the seconds waited in total.
        :raises RateLimited: the required wait exceeds ``max_wait`` (``retry_after`` says how long).
        """
        waited = 0.0
        while True:
            decision = self.backend.try_acquire(self.key, self.policies, cost)
            if decision.wait <= 0:
                return waited
            if max_wait is not None and decision.wait > max_wait:
                raise RateLimited(
                    f"rate limit {self.key!r}: next slot in {decision.wait:.1f}s",
                    retry_after=decision.wait,
                )
            self._sleep(decision.wait + _EPSILON)
            waited += decision.wait + _EPSILON

    def settle(self, cost: float = 1) -> None:
        """Say that a request admitted with ``cost`` got its answer (or failed for good).

        Call it after every attempt, *before* :meth:`observe_response`: a server report is
        then combined with the units still in flight (admitted, not answered) so that the
        limiter's picture is the server's count plus what the server has not seen yet.
        """
        self.backend.settle(self.key, self.policies, cost)

    def observe(
        self, used: float, capacity: float, *, policy: str | None = None, cost: float = 1
    ) -> None:
        """Record the server's report that its bucket holds ``used`` of ``capacity`` units.

        :param policy: the policy the report is about; may be omitted when only one fits.
        :param cost: units of the request that carried the report (0 for a refused one).
        """
        name, chosen = self._pick(policy, TokenBucket)
        if isinstance(chosen, TokenBucket):
            self.backend.observe_bucket(
                self.key, name, chosen, used=used, capacity=capacity, cost=cost
            )
        else:
            self.backend.observe_window(
                self.key,
                name,
                chosen,
                remaining=capacity - used,
                limit=capacity,
                window=chosen.window_seconds,
            )

    def observe_remaining(
        self, remaining: float, limit: float, window: float, *, policy: str | None = None
    ) -> None:
        """Record the server's report that ``remaining`` of ``limit`` units are left in ``window`` s."""
        name, chosen = self._pick(policy, SlidingWindow)
        if isinstance(chosen, SlidingWindow):
            self.backend.observe_window(
                self.key, name, chosen, remaining=remaining, limit=limit, window=window
            )
        else:
            self.backend.observe_bucket(
                self.key, name, chosen, used=limit - remaining, capacity=limit, cost=1
            )

    def observe_response(self, response: httpx.Response) -> None:
        """Feed a response's rate-limit headers to the header policy."""
        self.header_policy.observe(response, self)

    def pause(self, seconds: float) -> None:
        """Admit nothing for ``seconds`` on this key, for every worker sharing the backend."""
        if seconds > 0:
            self.backend.pause(self.key, seconds)

    def state(self) -> dict[str, dict[str, float]]:
        """Return each policy's current (learned) parameters and fill, for logs and tests."""
        return {
            name: self.backend.state(self.key, name, policy)
            for name, policy in self.policies.items()
        }

    def _pick(self, name: str | None, preferred: type) -> tuple[str, Policy]:
        if name is not None:
            if name not in self.policies:
                raise KeyError(f"rate limiter {self.key!r} has no policy {name!r}")
            return name, self.policies[name]
        if len(self.policies) == 1:
            return next(iter(self.policies.items()))
        matching = [(n, p) for n, p in self.policies.items() if isinstance(p, preferred)]
        if len(matching) != 1:
            raise ValueError(
                f"rate limiter {self.key!r} has several policies; name the one observed"
            )
        return matching[0]
