"""Rate-limit policies and learning, run identically on the memory and the Redis backend.

Time is a fake clock shared by the backend and the limiter's sleep, so every wait is exact
and no test depends on the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from crmhub.core.errors import RateLimited
from crmhub.core.http import (
    LimiterBackend,
    RateLimiter,
    RedisLimiterBackend,
    ShopifyCallLimitHeader,
    SlidingWindow,
    TokenBucket,
)
from http_fakes import FakeClock

MakeBackend = Callable[[Callable[[], float] | None], LimiterBackend]


@pytest.fixture
def backend(make_backend: MakeBackend, clock: FakeClock) -> LimiterBackend:
    return make_backend(clock)


def limiter(key: str, backend: LimiterBackend, clock: FakeClock, **policies: object) -> RateLimiter:
    return RateLimiter(key, policies, backend=backend, sleep=clock.sleep)  # type: ignore[arg-type]


def test_token_bucket_bursts_then_paces(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    lim = limiter(limiter_key, backend, clock, bucket=TokenBucket(5, 10))
    waits = [lim.acquire() for _ in range(8)]
    assert waits[:5] == [0.0] * 5
    assert all(w == pytest.approx(0.1, abs=0.002) for w in waits[5:])


def test_sliding_window_waits_for_the_oldest_to_expire(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    lim = limiter(limiter_key, backend, clock, window=SlidingWindow(3, 1.0))
    start = clock.now
    for _ in range(3):
        assert lim.acquire() == 0.0
        clock.advance(0.1)
    # the 4th may go when the 1st leaves the window, at start + 1.0
    expected = start + 1.0 - clock.now
    assert lim.acquire() == pytest.approx(expected, abs=0.002)
    assert lim.state()["window"]["count"] == 3


def test_combined_policies_admit_all_or_nothing(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    # HubSpot: a general window plus a search bucket; search calls count against both
    general = limiter(limiter_key, backend, clock, general=SlidingWindow(10, 10.0))
    search = general.extend(search=TokenBucket(2, 1))
    assert search.acquire() == 0.0 and search.acquire() == 0.0
    assert search.acquire() == pytest.approx(1.0, abs=0.002)  # waits for the search bucket
    assert general.acquire() == 0.0
    # the refused attempt took nothing from the general window
    assert general.state()["general"]["count"] == 4


def test_safety_margin_keeps_room_free(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    lim = limiter(limiter_key, backend, clock, b=TokenBucket(10, 1, safety_margin=0.2))
    assert [lim.acquire() for _ in range(9)].count(0.0) == 8


def test_pause_stops_every_limiter_on_the_key(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    one = limiter(limiter_key, backend, clock, b=TokenBucket(100, 100))
    two = limiter(limiter_key, backend, clock, b=TokenBucket(100, 100))
    one.pause(3.0)
    assert two.acquire() == pytest.approx(3.0, abs=0.002)
    assert one.acquire() == 0.0


def test_max_wait_raises_rate_limited(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    lim = limiter(limiter_key, backend, clock, b=TokenBucket(1, 0.01))
    lim.acquire()
    with pytest.raises(RateLimited) as caught:
        lim.acquire(max_wait=10)
    assert caught.value.retry_after == pytest.approx(100, abs=0.01)
    assert clock.sleeps == []


def test_bucket_learns_capacity_and_scales_rate(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    lim = limiter(limiter_key, backend, clock, bucket=ShopifyCallLimitHeader.starting_policy())
    lim.observe(1, 80)
    state = lim.state()["bucket"]
    assert state["capacity"] == 80 and state["rate"] == pytest.approx(4.0)
    # a fixed (non-learning) bucket keeps its configuration
    fixed = limiter(limiter_key + "f", backend, clock, bucket=TokenBucket(40, 2))
    fixed.observe(1, 80)
    assert fixed.state()["bucket"]["capacity"] == 40


def test_bucket_estimates_leak_rate_from_reports(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    policy = TokenBucket(40, 2, learn=True, learn_interval=2.0)
    lim = limiter(limiter_key, backend, clock, bucket=policy)
    # Given a report of 30/40, then 4 counted requests over 2 s ending at 24/40
    lim.observe(30, 40)
    for used in (32, 29, 27):
        clock.advance(0.5)
        lim.observe(used, 40)
    clock.advance(0.5)
    lim.observe(24, 40)
    # Then the server leaked (30 + 4 - 24) / 2 = 5/s, and the estimate moved 30% toward it
    assert lim.state()["bucket"]["rate"] == pytest.approx(2 + 0.3 * (5 - 2), abs=0.01)


def test_empty_bucket_report_is_a_lower_bound(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    lim = limiter(
        limiter_key, backend, clock, bucket=TokenBucket(40, 2, learn=True, learn_interval=1.0)
    )
    lim.observe(30, 40)
    clock.advance(1.0)
    lim.observe(1, 40)  # 30 units drained within 1 s: at least 30/s
    assert lim.state()["bucket"]["rate"] == pytest.approx(30, abs=0.01)


def test_bucket_report_raises_the_fill(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    lim = limiter(limiter_key, backend, clock, bucket=TokenBucket(40, 2, safety_margin=0.1))
    lim.observe(35, 40)  # others used the bucket: 36 is the ceiling, so 1 more fits
    assert lim.acquire() == 0.0
    assert lim.acquire() == pytest.approx(0.5, abs=0.002)


def test_window_learns_limit_and_counts_unseen_use(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    lim = limiter(limiter_key, backend, clock, general=SlidingWindow(100, 10.0, learn=True))
    lim.observe_remaining(7, 10, 1.0)  # 3 used elsewhere, 10 per second in all
    assert lim.state()["general"] == {"limit": 10, "window": 1.0, "count": 3, "pending": 0}
    assert [lim.acquire() for _ in range(7)] == [0.0] * 7
    assert lim.acquire() == pytest.approx(1.0, abs=0.002)


def test_redis_keys_are_namespaced_and_script_is_cached(
    redis_url: str, clock: FakeClock, limiter_key: str
) -> None:
    backend = RedisLimiterBackend(redis_url, clock=clock)
    lim = limiter(
        limiter_key, backend, clock, general=SlidingWindow(5, 1.0), bucket=TokenBucket(5, 1)
    )
    lim.acquire()
    lim.pause(1.0)
    keys = sorted(k.decode() for k in backend.redis.scan_iter(f"crmhub:ratelimit:{limiter_key}*"))
    base = f"crmhub:ratelimit:{limiter_key}"
    assert keys == [
        f"{base}:bucket",
        f"{base}:general",
        f"{base}:general:log",
        f"{base}:general:pending",
        f"{base}:pause",
    ]
    assert backend.redis.script_exists(backend._script.sha) == [True]


def test_answered_window_entries_count_from_the_answer(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    # Given 2 of 2 admitted at t0, answered 0.3 s later (the server counted them on arrival)
    lim = limiter(limiter_key, backend, clock, window=SlidingWindow(2, 1.0))
    start = clock.now
    lim.acquire(), lim.acquire()
    assert lim.state()["window"]["pending"] == 2
    clock.advance(0.3)
    lim.settle(), lim.settle()
    # Then the next slot opens 1 s after the answers, not 1 s after the admissions
    assert lim.state()["window"]["pending"] == 0
    expected = start + 0.3 + 1.0 - clock.now
    assert lim.acquire() == pytest.approx(expected, abs=0.002)


def test_settle_releases_bucket_in_flight_units(
    backend: LimiterBackend, clock: FakeClock, limiter_key: str
) -> None:
    lim = limiter(limiter_key, backend, clock, bucket=TokenBucket(40, 2, safety_margin=0.1))
    for _ in range(3):
        lim.acquire()
    lim.settle()
    # the server has counted 5 (2 from elsewhere); 2 of ours are still on their way
    lim.observe(5, 40)
    assert lim.state()["bucket"]["level"] == pytest.approx(7)
