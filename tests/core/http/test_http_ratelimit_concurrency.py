"""Many threads, many processes: together they never exceed a limit.

Each admission is recorded with the backend's own clock (the Redis server's TIME for the
Redis backend), then the admissions are counted per window: no test measures wall time.
"""

from __future__ import annotations

import bisect
import multiprocessing
import threading
from collections.abc import Callable, Mapping

from crmhub.core.http import (
    Decision,
    LimiterBackend,
    Policy,
    RateLimiter,
    RedisLimiterBackend,
    SlidingWindow,
    TokenBucket,
)

MakeBackend = Callable[[Callable[[], float] | None], LimiterBackend]
POLICIES: dict[str, Policy] = {
    "window": SlidingWindow(6, 0.25),  # at most 6 in any 0.25 s
    "bucket": TokenBucket(3, 30),  # bursts of 3, then 30/s
}


class RecordingBackend:
    """Delegates to a backend and records the backend time of every admission."""

    def __init__(self, inner: LimiterBackend) -> None:
        self.inner = inner
        self.admitted: list[float] = []
        self._lock = threading.Lock()

    def try_acquire(self, key: str, policies: Mapping[str, Policy], cost: float) -> Decision:
        decision = self.inner.try_acquire(key, policies, cost)
        if decision.wait <= 0:
            with self._lock:
                self.admitted.append(decision.now)
        return decision

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def assert_within_limits(times: list[float]) -> None:
    """No window of 0.25 s holds more than 6; no span holds more than the bucket allows."""
    times = sorted(times)
    window = POLICIES["window"]
    bucket = POLICIES["bucket"]
    assert isinstance(window, SlidingWindow) and isinstance(bucket, TokenBucket)
    for i, start in enumerate(times):
        inside = bisect.bisect_left(times, start + window.window_seconds - 1e-6) - i
        assert inside <= window.limit, f"{inside} admitted within one window from {start}"
        for j in range(i, len(times)):
            allowed = bucket.capacity + bucket.refill_per_second * (times[j] - start) + 1e-3
            assert j - i + 1 <= allowed, f"{j - i + 1} admitted in {times[j] - start:.4f}s"


def test_threads_share_one_budget(make_backend: MakeBackend, limiter_key: str) -> None:
    # Given 6 threads, each with its own limiter on the same key and backend
    backend = RecordingBackend(make_backend(None))

    def work() -> None:
        limiter = RateLimiter(limiter_key, POLICIES, backend=backend)  # type: ignore[arg-type]
        for _ in range(6):
            limiter.acquire()

    threads = [threading.Thread(target=work) for _ in range(6)]
    # When they all acquire at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every request was admitted, and never more than the limits allow
    assert len(backend.admitted) == 36
    assert_within_limits(backend.admitted)


def _process_worker(redis_url: str, key: str, count: int) -> list[float]:
    backend = RecordingBackend(RedisLimiterBackend(redis_url))
    limiter = RateLimiter(key, POLICIES, backend=backend)  # type: ignore[arg-type]
    for _ in range(count):
        limiter.acquire()
    return backend.admitted


def test_processes_share_one_budget_through_redis(redis_url: str, limiter_key: str) -> None:
    # Given 4 worker processes on one Redis key
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        # When each acquires 9 times
        results = pool.starmap(_process_worker, [(redis_url, limiter_key, 9)] * 4)
    # Then all 36 were admitted and, counted on Redis' clock, never beyond the limits
    times = [t for result in results for t in result]
    assert len(times) == 36
    assert_within_limits(times)
