"""The HTTP layer every crmhub plugin uses: one client, shared rate limits, pagination.

A plugin never calls httpx directly. It builds an :class:`ApiClient` with a
:class:`RateLimiter` shared by all workers of the remote account, then walks a list with a
paginator. A Shopify source, say::

    from crmhub.core.http import (
        ApiClient, LinkHeaderPaginator, RateLimiter, RedisLimiterBackend,
        ShopifyCallLimitHeader,
    )

    limiter = RateLimiter(
        f"shopify:{settings.shop}",                            # one budget per shop
        {"bucket": ShopifyCallLimitHeader.starting_policy()},  # capacity/rate learned
        backend=RedisLimiterBackend(settings.redis_url),       # shared by every worker
        header_policy=ShopifyCallLimitHeader(),                # reads "32/40"
    )
    client = ApiClient(
        f"https://{settings.shop}.myshopify.com/admin/api/2024-07/",
        headers={"X-Shopify-Access-Token": settings.token},   # registered as a secret
        limiter=limiter,
        instance=instance.name,
        transport=transport,                                  # tests: a loopback server
    )
    paginator = LinkHeaderPaginator(items_path="customers")
    for page in paginator.pages(client, "customers.json",
                                {"limit": 250, "updated_at_min": since}, start=stored):
        store(page.items, cursor=page.next_token)             # one transaction

HubSpot combines its general window with a per-endpoint limit::

    limiter = RateLimiter(
        f"hubspot:{portal}", {"general": HubSpotRateLimitHeaders.starting_policy()},
        backend=backend, header_policy=HubSpotRateLimitHeaders("general"),
    )
    search = limiter.extend(search=TokenBucket(4, 4))
    client.request("POST", "crm/v3/objects/contacts/search", json=body, limiter=search)

Errors (see :mod:`crmhub.core.errors`): :class:`~crmhub.core.errors.RemoteAuthError` for
401/403, :class:`~crmhub.core.errors.PermanentRemoteError` for other 4xx, and, once the
:class:`RetryPolicy` is spent, :class:`~crmhub.core.errors.RateLimited` or
:class:`~crmhub.core.errors.TransientRemoteError` with ``retry_after`` for the job layer.
Inside a hub, take the shared backend with :func:`rate_limiter(hub, key, policies)`: Redis
when the hub runs on a Redis broker, in-process memory in the embedded mode.
WooCommerce over plain HTTP signs requests with ``auth=OAuth1QueryAuth(key, secret)``.
"""

from __future__ import annotations

from crmhub.core.http.client import DEFAULT_USER_AGENT, ApiClient
from crmhub.core.http.oauth1 import OAuth1QueryAuth
from crmhub.core.http.pagination import (
    JsonCursorPaginator,
    LinkHeaderPaginator,
    PageNumberPaginator,
)
from crmhub.core.http.pagination_tokens import (
    CursorToken,
    LinkToken,
    Page,
    PageNumberToken,
    PageToken,
    load_token,
)
from crmhub.core.http.ratelimit import RateLimiter
from crmhub.core.http.ratelimit_headers import (
    HeaderPolicy,
    HubSpotRateLimitHeaders,
    NoRateLimitHeaders,
    ShopifyCallLimitHeader,
)
from crmhub.core.http.ratelimit_memory import MemoryLimiterBackend
from crmhub.core.http.ratelimit_policies import (
    Decision,
    LimiterBackend,
    Policy,
    SlidingWindow,
    TokenBucket,
)
from crmhub.core.http.ratelimit_redis import RedisLimiterBackend
from crmhub.core.http.retry import RetryPolicy, parse_retry_after
from crmhub.core.http.shared import limiter_backend, rate_limiter

__all__ = [
    "DEFAULT_USER_AGENT",
    "limiter_backend",
    "rate_limiter",
    "ApiClient",
    "CursorToken",
    "Decision",
    "HeaderPolicy",
    "HubSpotRateLimitHeaders",
    "JsonCursorPaginator",
    "LimiterBackend",
    "LinkHeaderPaginator",
    "LinkToken",
    "MemoryLimiterBackend",
    "NoRateLimitHeaders",
    "OAuth1QueryAuth",
    "Page",
    "PageNumberPaginator",
    "PageNumberToken",
    "PageToken",
    "Policy",
    "RateLimiter",
    "RedisLimiterBackend",
    "RetryPolicy",
    "ShopifyCallLimitHeader",
    "SlidingWindow",
    "TokenBucket",
    "load_token",
    "parse_retry_after",
]
