"""The limiter adapts to what servers report: Shopify's bucket header, HubSpot's window headers.

Two kinds of test:

* simulations on a fake clock -- several workers against a simulated Shopify bucket for a
  long sync, on both backends: throughput near the theoretical ceiling, almost no 429s;
* short runs against fake servers on loopback, through ApiClient, in real time: no 429s.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
from collections.abc import Callable

import httpx
import pytest
from crmhub.core.errors import RateLimited
from crmhub.core.http import (
    ApiClient,
    HubSpotRateLimitHeaders,
    LimiterBackend,
    MemoryLimiterBackend,
    RateLimiter,
    RetryPolicy,
    ShopifyCallLimitHeader,
    TokenBucket,
)
from http_fakes import FakeClock, LeakyBucketApi, Reply, RollingWindowApi, ScriptedApi

MakeBackend = Callable[[Callable[[], float] | None], LimiterBackend]
HEADER = "X-Shopify-Shop-Api-Call-Limit"


def simulate_sync(
    limiter: RateLimiter,
    clock: FakeClock,
    *,
    capacity: int,
    leak: float,
    requests: int,
    workers: int = 4,
    seed: int = 7,
) -> tuple[float, int]:
    """Run ``workers`` simulated workers until ``requests`` succeed against a leaky bucket.

    :returns: (share of the theoretical ceiling reached, number of 429s).
    """
    rng = random.Random(seed)
    level, stamp, done, rejected = 0.0, clock.now, 0, 0
    start = clock.now
    events: list[tuple[float, int, str, int]] = []
    seq = 0

    def push(at: float, phase: str, value: int = 0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, phase, value))

    for _ in range(workers):
        push(clock.now, "try")
    while events:
        at, _, phase, value = heapq.heappop(events)
        clock.now = max(clock.now, at)
        if phase == "try":  # what RateLimiter.acquire does, without blocking the simulation
            decision = limiter.backend.try_acquire(limiter.key, limiter.policies, 1)
            if decision.wait > 0:
                push(clock.now + decision.wait + 0.001, "try")
            else:
                push(clock.now + rng.uniform(0.02, 0.2), "arrive")
        elif phase == "arrive":  # the server's leaky bucket
            level = max(0.0, level - (clock.now - stamp) * leak)
            stamp = clock.now
            if level + 1 > capacity:
                rejected += 1
                push(clock.now + rng.uniform(0.02, 0.2), "respond", -1)
            else:
                level += 1
                push(clock.now + rng.uniform(0.02, 0.2), "respond", math.ceil(level - 1e-9))
        else:  # the response reaches the client, which does what ApiClient does
            limiter.settle(1)
            if value < 0:
                response = httpx.Response(429, headers={HEADER: f"{capacity}/{capacity}"})
                limiter.observe_response(response)
                limiter.pause(1.0)
            else:
                done += 1
                limiter.observe_response(
                    httpx.Response(200, headers={HEADER: f"{value}/{capacity}"})
                )
            if done < requests:
                push(clock.now, "try")
    elapsed = clock.now - start
    return done / (capacity + leak * elapsed), rejected


@pytest.mark.parametrize(
    ("capacity", "leak"),
    [(40, 2.0), (80, 4.0), (40, 3.0)],
    ids=["standard-40-at-2", "plus-80-at-4", "unusual-40-at-3"],
)
def test_long_sync_reaches_the_ceiling_with_almost_no_429(
    make_backend: MakeBackend, clock: FakeClock, limiter_key: str, capacity: int, leak: float
) -> None:
    # Given a learning limiter that starts from the smallest plan (40 at 2/s)
    limiter = RateLimiter(
        limiter_key,
        {"bucket": ShopifyCallLimitHeader.starting_policy()},
        backend=make_backend(clock),
        header_policy=ShopifyCallLimitHeader(),
        sleep=clock.sleep,
    )
    # When 4 workers run a 1,000-request sync against the real bucket
    share, rejected = simulate_sync(limiter, clock, capacity=capacity, leak=leak, requests=1000)
    # Then the sync runs at >= 90% of the ceiling with at most one 429
    assert share >= 0.9, f"reached {share:.1%} of the ceiling"
    assert rejected <= 1
    state = limiter.state()["bucket"]
    assert state["capacity"] == capacity
    assert state["rate"] == pytest.approx(leak, rel=0.15)


def test_shopify_header_keeps_a_fast_bucket_below_capacity(serve: Callable[..., str]) -> None:
    # Given a Shopify-like server whose bucket of 40 leaks fast (60/s)
    fake = LeakyBucketApi(capacity=40, leak_per_second=60)
    url = serve(fake.app)
    limiter = RateLimiter(
        "shopify:fast",
        {"bucket": ShopifyCallLimitHeader.starting_policy(learn_interval=0.3)},
        header_policy=ShopifyCallLimitHeader(),
    )

    # When 4 threads share one limiter for 200 requests
    def work() -> None:
        with ApiClient(url, limiter=limiter) as client:
            for _ in range(50):
                client.request("GET", "admin/api/2024-07/customers.json")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then no request was refused and the bucket never filled
    assert fake.served == 200 and fake.rejected == 0
    assert fake.max_level <= 40
    assert limiter.state()["bucket"]["rate"] > 10  # learned far above the 2/s start


def test_hubspot_headers_teach_the_window(serve: Callable[..., str]) -> None:
    # Given a HubSpot-like server allowing 10 requests per rolling 0.5 s
    fake = RollingWindowApi(limit=10, window=0.5)
    url = serve(fake.app)
    limiter = RateLimiter(
        "hubspot:portal",
        {"general": HubSpotRateLimitHeaders.starting_policy()},
        header_policy=HubSpotRateLimitHeaders("general"),
    )

    # When 3 threads make 40 requests while the limiter starts from 100 per 10 s
    def work(count: int) -> None:
        with ApiClient(url, limiter=limiter) as client:
            for _ in range(count):
                client.request("GET", "crm/v3/objects/contacts")

    threads = [threading.Thread(target=work, args=(n,)) for n in (14, 13, 13)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then it learned the real limit and never got a 429
    assert fake.served == 40 and fake.rejected == 0
    state = limiter.state()["general"]
    assert state["limit"] == 10 and state["window"] == 0.5


def test_retry_after_pauses_every_client_on_the_key(
    serve: Callable[..., str], make_backend: MakeBackend, clock: FakeClock, limiter_key: str
) -> None:
    fake = ScriptedApi()
    url = serve(fake.app)
    fake.script("a", Reply(429, headers={"Retry-After": "3"}))
    backend = make_backend(clock)

    def client() -> ApiClient:
        limiter = RateLimiter(
            limiter_key, {"b": TokenBucket(100, 100)}, backend=backend, sleep=clock.sleep
        )
        return ApiClient(
            url, limiter=limiter, retry=RetryPolicy(max_attempts=1), sleep=clock.sleep, clock=clock
        )

    with client() as first, client() as second:
        # Given the first client is told to wait 3 s (and gives up: one attempt only)
        with pytest.raises(RateLimited):
            first.request("GET", "a")
        assert clock.sleeps == []
        # When the second client, on the same key, sends a request
        second.request("GET", "b")
    # Then it waited out the pause before sending
    assert clock.sleeps == [pytest.approx(3.0, abs=0.01)]
    assert fake.count("b") == 1


def test_retry_after_is_waited_in_acquire_when_retrying(
    serve: Callable[..., str], clock: FakeClock
) -> None:
    fake = ScriptedApi()
    url = serve(fake.app)
    fake.script("a", Reply(429, headers={"Retry-After": "2.0"}))
    limiter = RateLimiter(
        "k", {"b": TokenBucket(100, 100)}, backend=MemoryLimiterBackend(clock), sleep=clock.sleep
    )
    with ApiClient(url, limiter=limiter, sleep=clock.sleep, clock=clock) as client:
        assert client.request("GET", "a").status_code == 200
    assert clock.sleeps == [pytest.approx(2.0, abs=0.01)]  # once, not twice
    assert fake.count("a") == 2
