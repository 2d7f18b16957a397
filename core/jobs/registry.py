"""The job registry: every job name a hub can run, with its function and queue.

Built-in jobs (see :mod:`crmhub.core.jobs.builtin`) plus those plugins register through
``crmhub_register_jobs`` (``{"email.send": fn}``; a value may also be a :class:`JobSpec`
to choose the queue). Each name becomes one Dramatiq actor; a message carries only the
job's id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmhub.core.errors import ConfigError

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

JOB_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9._-]{0,79}$")

QUEUE_WEBHOOK = "crmhub.webhook"
QUEUE_DEFAULT = "crmhub.default"
QUEUE_SYNC = "crmhub.sync"
#: Dramatiq priorities per queue (lower runs first when a worker has a backlog).
PRIORITY = {QUEUE_WEBHOOK: 0, QUEUE_DEFAULT: 10, QUEUE_SYNC: 20}


@dataclass(frozen=True)
class JobSpec:
    """How to run one kind of job.

    :ivar name: the job's name (the Dramatiq actor's name).
    :ivar fn: ``fn(hub, **args)``; its JSON-able return value is stored as the result.
    :ivar queue: the broker queue (``crmhub.webhook``, ``crmhub.default``, ``crmhub.sync``).
    :ivar on_dead: called with ``(hub, args, error)`` when the job becomes a dead letter,
        to mark what it worked on (e.g. the webhook event) as failed.
    """

    name: str
    fn: Callable[..., Any]
    queue: str = QUEUE_DEFAULT
    on_dead: Callable[[Hub, dict[str, Any], str], None] | None = None

    @property
    def priority(self) -> int:
        """The Dramatiq priority of the job's queue."""
        return PRIORITY.get(self.queue, 10)


class JobRegistry:
    """Job specs by name."""

    def __init__(self, specs: list[JobSpec] | None = None) -> None:
        self._specs: dict[str, JobSpec] = {}
        for spec in specs or []:
            self.add(spec)

    def add(self, spec: JobSpec, *, owner: str = "crmhub") -> None:
        """Register a job.

        :raises ConfigError: a bad or duplicate name.
        """
        if not JOB_NAME.match(spec.name):
            raise ConfigError(f"{owner}: job name {spec.name!r} is not valid", key="plugins")
        if spec.name in self._specs:
            raise ConfigError(f"{owner}: job {spec.name!r} is already registered", key="plugins")
        self._specs[spec.name] = spec

    def get(self, name: str) -> JobSpec | None:
        """The spec of ``name``, or None."""
        return self._specs.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        """Registered job names, sorted."""
        return sorted(self._specs)


def build_registry(hub: Hub) -> JobRegistry:
    """The built-in jobs plus every plugin's."""
    from crmhub.core.jobs.builtin import builtin_jobs

    registry = JobRegistry(builtin_jobs())
    for name, value in hub.plugins.jobs(hub).items():
        spec = value if isinstance(value, JobSpec) else JobSpec(name=name, fn=value)
        if not callable(spec.fn):
            raise ConfigError(f"job {name!r}: registered value is not callable", key="plugins")
        registry.add(spec, owner=f"plugin job {name!r}")
    return registry


def job_registry(hub: Hub) -> JobRegistry:
    """The hub's job registry (built once)."""
    return hub.service("jobs.registry", build_registry)
