"""The shared rate-limit backend: Redis with a Redis broker, in-process when embedded."""

from __future__ import annotations

from crmhub.core.jobs.limits import limiter_backend


class Backends:
    def __init__(self):
        self.built = []

    def memory(self):
        self.built.append(("memory",))
        return ("memory", len(self.built))

    def redis(self, url):
        self.built.append(("redis", url))
        return ("redis", url)


def test_the_embedded_hub_keeps_limits_in_process_once_for_all_clients(build_hub):
    hub = build_hub()
    backends = Backends()
    first = limiter_backend(hub, backends)
    assert first == ("memory", 1)
    assert limiter_backend(hub, backends) is first
    assert backends.built == [("memory",)]


def test_a_redis_broker_shares_limits_through_redis(build_hub):
    hub = build_hub(hub={"broker_url": "redis://127.0.0.1:6379/3"})
    assert limiter_backend(hub, Backends()) == ("redis", "redis://127.0.0.1:6379/3")
