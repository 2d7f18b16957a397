"""The rate-limit backend shared by every worker of a hub.

Remote APIs limit an *account*, not a process: Shopify's bucket is shared by every
worker that calls the shop. So every HTTP client of a hub takes its limiter state from
:func:`limiter_backend`: Redis (the broker's server) when ``[hub] broker_url`` is a Redis
URL, so all worker processes on all machines draw from the same buckets; in-process
memory on the embedded broker, where every job runs in the one ``crmhub serve`` process.
The policies themselves (token bucket, sliding window, per plugin from the remote API's
documented limits) live with the HTTP client in :mod:`crmhub.core.http`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from crmhub.core.jobs.broker import REDIS_SCHEMES

if TYPE_CHECKING:
    from crmhub.core.hub import Hub


class BackendFactory(Protocol):
    """Builds limiter backends; :func:`http_backends` gives the HTTP client's own."""

    def memory(self) -> Any:
        """A backend that keeps buckets in this process."""

    def redis(self, url: str) -> Any:
        """A backend that keeps buckets in the Redis at ``url``, shared by every process."""


class _HttpBackends:
    def memory(self) -> Any:
        from crmhub.core.http import MemoryLimiterBackend

        return MemoryLimiterBackend()

    def redis(self, url: str) -> Any:
        from crmhub.core.http import RedisLimiterBackend

        return RedisLimiterBackend(url)


def http_backends() -> BackendFactory:
    """The backends of :mod:`crmhub.core.http` (``MemoryLimiterBackend``,
    ``RedisLimiterBackend``)."""
    return _HttpBackends()


def limiter_url(hub: Hub) -> str | None:
    """The Redis URL limiter state is shared through, or None for in-process state."""
    url = hub.settings.hub.broker_url.strip()
    return url if url.startswith(REDIS_SCHEMES) else None


def limiter_backend(hub: Hub, factory: BackendFactory | None = None) -> Any:
    """The hub's shared limiter backend, built once per hub (so every client and every
    thread of this process shares it; with Redis, every process does too).

    :param factory: how to build backends (default: :func:`http_backends`).
    """

    def build(built_for: Hub) -> Any:
        backends = factory or http_backends()
        url = limiter_url(built_for)
        return backends.redis(url) if url else backends.memory()

    return hub.service("jobs.limiter_backend", build)
