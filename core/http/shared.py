"""The hub's shared rate-limit backend: Redis when the hub runs on a Redis broker (so every
worker process on every machine shares one budget per remote account), in-process memory
in the embedded mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from crmhub.core.http.ratelimit import RateLimiter
from crmhub.core.http.ratelimit_headers import HeaderPolicy
from crmhub.core.http.ratelimit_memory import MemoryLimiterBackend
from crmhub.core.http.ratelimit_policies import LimiterBackend, Policy
from crmhub.core.http.ratelimit_redis import RedisLimiterBackend

if TYPE_CHECKING:
    from crmhub.core.hub import Hub


def limiter_backend(hub: Hub) -> LimiterBackend:
    """The backend all of this hub's limiters share."""

    def build(built: Hub) -> LimiterBackend:
        url = built.settings.hub.broker_url
        if url.startswith(("redis://", "rediss://", "unix://")):
            return RedisLimiterBackend(url)
        return MemoryLimiterBackend()

    return hub.service("http.ratelimit-backend", build)


def rate_limiter(
    hub: Hub, key: str, policies: Mapping[str, Policy], *, header_policy: HeaderPolicy | None = None
) -> RateLimiter:
    """A limiter for one remote account (``key`` such as ``shopify:example.myshopify.com``),
    shared through the hub's backend."""
    return RateLimiter(key, policies, backend=limiter_backend(hub), header_policy=header_policy)
