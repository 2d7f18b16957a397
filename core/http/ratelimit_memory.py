"""In-process limiter backend: one lock, plain Python state.

For the embedded mode (one process, a thread pool of workers) and for tests. Its arithmetic
is the same as the Lua script of :mod:`crmhub.core.http.ratelimit_redis`; the test suite
runs the same cases against both.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from crmhub.core.http.ratelimit_policies import Decision, Policy, SlidingWindow, TokenBucket

ALPHA = 0.3  # weight of a new leak-rate estimate
MIN_RATE = 0.001
INFLIGHT_TAU = 60.0  # seconds; in-flight units never settled (a killed worker) fade away
PENDING_TTL = 300.0  # seconds; a window entry never settled is no longer re-stamped


@dataclass
class _Bucket:
    level: float
    ts: float
    capacity: float
    rate: float
    inflight: float = 0.0
    last_used: float | None = None
    last_t: float = 0.0
    ref_t: float | None = None
    ref_u: float = 0.0
    ref_n: float = 0.0

    def leak(self, now: float) -> None:
        if now > self.ts:
            self.level = max(0.0, self.level - (now - self.ts) * self.rate)
            self.inflight *= math.exp(-(now - self.ts) / INFLIGHT_TAU)
            self.ts = now

    def wait(self, policy: TokenBucket, cost: float) -> float:
        ceiling = max(cost, self.capacity * (1 - policy.safety_margin))
        excess = self.level + cost - ceiling
        return excess / self.rate if excess > 0 else 0.0

    def observe(
        self, policy: TokenBucket, now: float, used: float, capacity: float, cost: float
    ) -> None:
        if policy.learn and capacity > 0 and capacity != self.capacity:
            self.rate *= capacity / self.capacity  # keep the plan's ratio until measured
            self.capacity = capacity
        if policy.learn:
            self._estimate_rate(policy, now, used, cost)
        if self.last_used is not None:  # a late answer must not undo a newer report
            used = max(used, self.last_used - self.rate * (now - self.last_t))
        self.last_used, self.last_t = used, now
        # the server's count, plus what was admitted and has not been answered yet
        self.level = used + self.inflight

    def _estimate_rate(self, policy: TokenBucket, now: float, used: float, cost: float) -> None:
        if self.ref_t is None:
            self.ref_t, self.ref_u, self.ref_n = now, used, 0.0
            return
        self.ref_n += cost
        elapsed = now - self.ref_t
        if elapsed < policy.learn_interval:
            return
        sample = (self.ref_u + self.ref_n - used) / elapsed
        if used - cost <= 1:  # the bucket ran empty: it leaked at least this fast
            self.rate = max(self.rate, sample)
        elif sample > 0:
            self.rate += ALPHA * (sample - self.rate)
        self.rate = max(self.rate, MIN_RATE)
        self.ref_t, self.ref_u, self.ref_n = now, used, 0.0


@dataclass
class _Window:
    limit: float
    window: float
    log: list[float] = field(default_factory=list)
    pending: deque[float] = field(default_factory=deque)  # admission times not yet answered

    def prune(self, now: float) -> None:
        del self.log[: bisect.bisect_right(self.log, now - self.window)]
        while self.pending and self.pending[0] < now - PENDING_TTL:
            self.pending.popleft()

    def wait(self, policy: SlidingWindow, now: float, cost: float) -> float:
        allowed = max(cost, math.floor(self.limit * (1 - policy.safety_margin) + 1e-9))
        excess = len(self.log) + cost - allowed
        if excess <= 0:
            return 0.0
        oldest_to_expire = self.log[math.ceil(excess) - 1]
        return max(0.0, float(oldest_to_expire + self.window - now))

    def add(self, now: float, units: float, *, pending: bool) -> None:
        for _ in range(math.ceil(units)):
            bisect.insort(self.log, now)
            if pending:
                self.pending.append(now)

    def settle(self, now: float, units: float) -> None:
        """Re-stamp answered entries at ``now``: the server counted them on arrival, which
        may be later than their admission, so they must not leave the window earlier."""
        for _ in range(math.ceil(units)):
            if not self.pending:
                return
            admitted = self.pending.popleft()
            index = bisect.bisect_left(self.log, admitted)
            if index < len(self.log) and self.log[index] == admitted:
                del self.log[index]
            bisect.insort(self.log, now)


class MemoryLimiterBackend:
    """Thread-safe in-process limiter state.

    :param clock: seconds on a monotonic scale (injectable for tests).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._windows: dict[tuple[str, str], _Window] = {}
        self._pauses: dict[str, float] = {}

    def _bucket(self, key: str, name: str, policy: TokenBucket, now: float) -> _Bucket:
        bucket = self._buckets.get((key, name))
        if bucket is None:
            bucket = _Bucket(0.0, now, policy.capacity, policy.refill_per_second)
            self._buckets[(key, name)] = bucket
        if not policy.learn:
            bucket.capacity, bucket.rate = policy.capacity, policy.refill_per_second
        bucket.leak(now)
        return bucket

    def _window(self, key: str, name: str, policy: SlidingWindow, now: float) -> _Window:
        window = self._windows.get((key, name))
        if window is None:
            window = _Window(policy.limit, policy.window_seconds)
            self._windows[(key, name)] = window
        if not policy.learn:
            window.limit, window.window = policy.limit, policy.window_seconds
        window.prune(now)
        return window

    def try_acquire(self, key: str, policies: Mapping[str, Policy], cost: float) -> Decision:
        """Admit ``cost`` units under every policy, or admit nothing and say how long to wait."""
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._pauses.get(key, 0.0) - now)
            buckets, windows = [], []
            for name, policy in policies.items():
                if isinstance(policy, TokenBucket):
                    bucket = self._bucket(key, name, policy, now)
                    wait = max(wait, bucket.wait(policy, cost))
                    buckets.append(bucket)
                else:
                    window = self._window(key, name, policy, now)
                    wait = max(wait, window.wait(policy, now, cost))
                    windows.append(window)
            if wait > 0:
                return Decision(wait, now)
            for bucket in buckets:
                bucket.level += cost
                bucket.inflight += cost
            for window in windows:
                window.add(now, cost, pending=True)
            return Decision(0.0, now)

    def observe_bucket(
        self, key: str, name: str, policy: TokenBucket, *, used: float, capacity: float, cost: float
    ) -> None:
        """Record a server report of a bucket's fill level (``cost`` units were counted)."""
        with self._lock:
            now = self._clock()
            self._bucket(key, name, policy, now).observe(policy, now, used, capacity, cost)

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
        """Record a server report of what is left in its window; unseen use is added as now."""
        with self._lock:
            now = self._clock()
            state = self._window(key, name, policy, now)
            if policy.learn:
                state.limit = limit if limit > 0 else state.limit
                state.window = window if window > 0 else state.window
                state.prune(now)
            server_used = (limit if limit > 0 else state.limit) - remaining
            unseen = server_used - len(state.log)
            if unseen > 0:
                state.add(now, unseen, pending=False)

    def settle(self, key: str, policies: Mapping[str, Policy], cost: float) -> None:
        """Mark ``cost`` admitted units as answered (or failed): no longer in flight."""
        with self._lock:
            now = self._clock()
            for name, policy in policies.items():
                if isinstance(policy, TokenBucket):
                    bucket = self._bucket(key, name, policy, now)
                    bucket.inflight = max(0.0, bucket.inflight - cost)
                else:
                    self._window(key, name, policy, now).settle(now, cost)

    def pause(self, key: str, seconds: float) -> None:
        """Admit nothing under ``key`` for ``seconds`` (extends, never shortens, a pause)."""
        with self._lock:
            until = self._clock() + seconds
            self._pauses[key] = max(self._pauses.get(key, 0.0), until)

    def state(self, key: str, name: str, policy: Policy) -> dict[str, float]:
        """Return the current (learned) parameters and fill of one policy."""
        with self._lock:
            now = self._clock()
            if isinstance(policy, TokenBucket):
                b = self._bucket(key, name, policy, now)
                return {
                    "capacity": b.capacity,
                    "rate": b.rate,
                    "level": b.level,
                    "inflight": b.inflight,
                }
            w = self._window(key, name, policy, now)
            return {
                "limit": w.limit,
                "window": w.window,
                "count": float(len(w.log)),
                "pending": float(len(w.pending)),
            }
