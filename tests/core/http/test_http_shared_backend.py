"""The hub's shared rate-limit backend: Redis with a Redis broker, in-process when embedded."""

from __future__ import annotations

from crmhub.core.http import MemoryLimiterBackend, RedisLimiterBackend, limiter_backend, rate_limiter
from crmhub.core.http.ratelimit_policies import TokenBucket


def test_the_embedded_hub_keeps_limits_in_process_once_for_all_clients(make_hub):
    hub = make_hub()
    first = limiter_backend(hub)
    assert isinstance(first, MemoryLimiterBackend)
    assert limiter_backend(hub) is first
    a = rate_limiter(hub, "shop:a", {"bucket": TokenBucket(2, 1)})
    b = rate_limiter(hub, "shop:a", {"bucket": TokenBucket(2, 1)})
    assert a.backend is b.backend is first


def test_a_redis_broker_shares_limits_through_redis(make_hub, redis_url):
    hub = make_hub(hub={"broker_url": redis_url})
    assert isinstance(limiter_backend(hub), RedisLimiterBackend)
