"""Dramatiq brokers and actors, built per hub (no import-time global broker).

``[hub] broker_url = "redis://…"`` gives a :class:`RedisBroker` whose keys start with
``[jobs] namespace``; ``""`` (the embedded default) gives an in-process
:class:`StubBroker` that ``crmhub serve`` consumes with worker threads.

Retries are the database's business (:mod:`crmhub.core.jobs.policy`), so the brokers run
without Dramatiq's retry, age and time-limit middleware, and every actor swallows its
job's exceptions after recording them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from crmhub.core.errors import ConfigError
from crmhub.core.jobs.registry import JobRegistry
from crmhub.core.settings import Settings

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def is_embedded(settings: Settings) -> bool:
    """Whether jobs run in-process (``broker_url = ""``)."""
    return not settings.hub.broker_url.strip()


def create_broker(settings: Settings) -> dramatiq.Broker:
    """A new broker for the hub's configuration.

    :raises ConfigError: a broker URL that is neither empty nor a Redis URL.
    """
    url = settings.hub.broker_url.strip()
    if not url:
        return StubBroker(middleware=[])
    if not url.startswith(REDIS_SCHEMES):
        raise ConfigError(
            f'hub.broker_url: {url!r} is not supported (use "" for the embedded broker or redis://host:6379/0)',
            key="hub.broker_url",
        )
    return RedisBroker(url=url, namespace=settings.jobs.namespace, middleware=[])


def declare_actors(
    broker: dramatiq.Broker, registry: JobRegistry, run: Callable[[int], Any]
) -> dict[str, dramatiq.Actor]:
    """Declare one actor per registered job on ``broker``; each calls ``run(job_id)``."""

    def perform(job_id: int) -> None:
        run(int(job_id))

    perform.__module__ = "crmhub.core.jobs.actors"
    actors = {}
    for spec in registry:
        actors[spec.name] = dramatiq.Actor(
            perform,
            broker=broker,
            actor_name=spec.name,
            queue_name=spec.queue,
            priority=spec.priority,
            options={},
        )
    return actors


class ReleaseConnections(dramatiq.Middleware):
    """Gives a worker thread's bookkeeping connection back when the thread stops."""

    def __init__(self, release: Callable[[], None]) -> None:
        self.release = release

    def before_worker_thread_shutdown(self, broker: dramatiq.Broker, thread: Any) -> None:
        self.release()


def job_message(registry: JobRegistry, actor: str, job_id: int) -> dramatiq.Message[Any] | None:
    """The message that tells a worker to run job ``job_id`` (None for an unknown job)."""
    spec = registry.get(actor)
    if spec is None:
        return None
    return dramatiq.Message(
        queue_name=spec.queue, actor_name=spec.name, args=(job_id,), kwargs={}, options={}
    )


def declare_queues(broker: dramatiq.Broker, registry: JobRegistry) -> None:
    """Declare the job queues on a broker that only sends (no actors needed)."""
    for spec in registry:
        broker.declare_queue(spec.queue)
