"""The job layer running inside one process: broker, worker threads, dispatcher and
coordinator, started and stopped together.

- ``crmhub serve`` on the embedded broker: :func:`start_embedded` — an in-process
  :class:`~dramatiq.brokers.stub.StubBroker` consumed by worker threads, the dispatcher
  and the coordinator (relay + scheduler). No Redis.
- ``crmhub serve`` on Redis: :func:`attach_dispatcher` — jobs the API enqueues are sent
  to Redis right after commit; the workers' coordinators relay whatever it misses.
- ``crmhub worker`` processes build a :class:`JobRuntime` themselves
  (:mod:`crmhub.core.jobs.process`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import dramatiq
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import and_, func, or_, select, update

from crmhub.core.errors import ConfigError
from crmhub.core.jobs.bookkeeping import release_thread_connection
from crmhub.core.jobs.broker import (
    ReleaseConnections,
    create_broker,
    declare_actors,
    declare_queues,
    is_embedded,
)
from crmhub.core.jobs.coordinator import Coordinator
from crmhub.core.jobs.executor import Executor
from crmhub.core.jobs.registry import job_registry
from crmhub.core.jobs.sender import Dispatcher, Sender
from crmhub.core.models import Job

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

JOB = Job.__table__
log = logging.getLogger("crmhub.jobs")


class JobRuntime:
    """The parts of the job layer one process runs (see the module docstring)."""

    def __init__(
        self,
        hub: Hub,
        *,
        broker: dramatiq.Broker | None = None,
        threads: int = 0,
        coordinator: bool = False,
        dispatcher: bool = True,
    ) -> None:
        self.hub = hub
        self.registry = job_registry(hub)
        self.broker = broker or create_broker(hub.settings)
        self.sender = Sender(hub, self.broker, self.registry)
        self.executor = Executor(hub, self.registry)
        self.threads = threads
        self.worker: dramatiq.Worker | None = None
        self.dispatcher = Dispatcher(self.sender) if dispatcher else None
        self.coordinator = Coordinator(hub, self.sender) if coordinator else None
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        if threads:
            declare_actors(self.broker, self.registry, self.executor.execute)
            self.broker.add_middleware(ReleaseConnections(lambda: release_thread_connection(hub)))
        else:
            declare_queues(self.broker, self.registry)

    def start(self) -> JobRuntime:
        """Start worker threads, dispatcher and coordinator (whichever this runtime has)."""
        if isinstance(self.broker, StubBroker):
            self._requeue_lost_messages()
        if self.threads:
            self.executor.start()
            timeout = max(10, int(self.hub.settings.jobs.poll_interval * 1000))
            self.worker = dramatiq.Worker(
                self.broker, worker_threads=self.threads, worker_timeout=timeout
            )
            self.worker.start()
        if self.dispatcher is not None:
            self.dispatcher.attach()
        if self.coordinator is not None:
            self._loop = threading.Thread(
                target=self.coordinator.run,
                args=(self._stop,),
                name="crmhub-scheduler",
                daemon=True,
            )
            self._loop.start()
        return self

    def _requeue_lost_messages(self) -> None:
        """An in-process broker starts empty: jobs it held when the last process stopped
        are sent again now instead of after ``redeliver_after``."""
        with self.hub.engine.begin() as connection:
            count = connection.execute(
                update(JOB)
                .where(JOB.c.status == "enqueued")
                .values(status="pending", enqueued_at=None)
            ).rowcount
        if count:
            log.info("%s job(s) queued in memory by the previous process will run again", count)

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting work and wait up to ``timeout`` seconds (default
        ``[jobs] shutdown_timeout``) for running jobs; long jobs stop at a safe point."""
        timeout = self.hub.settings.jobs.shutdown_timeout if timeout is None else timeout
        self._stop.set()
        if self._loop is not None:
            self._loop.join(timeout=max(timeout, 5))
        if self.dispatcher is not None:
            self.dispatcher.close()
        self.executor.stopping.set()
        if self.worker is not None:
            self.worker.stop(timeout=int(timeout * 1000))
        self.executor.close()
        self.broker.close()

    def wait_idle(
        self, timeout: float = 30.0, *, poll: float = 0.05, retries: bool = False
    ) -> bool:
        """Wait until no job is due, queued or running (tests, ``crmhub demo``); with
        ``retries``, also until no job waits for a later attempt. Returns False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.hub.now()
            waiting = (
                JOB.c.status == "pending"
                if retries
                else and_(JOB.c.status == "pending", JOB.c.run_after <= now)
            )
            busy = or_(JOB.c.status.in_(("enqueued", "running")), waiting)
            with self.hub.engine.connect() as connection:
                if not connection.execute(
                    select(func.count()).select_from(JOB).where(busy)
                ).scalar():
                    return True
            time.sleep(poll)
        return False


def start_embedded(hub: Hub) -> JobRuntime:
    """Run the job layer inside this process for ``crmhub serve`` on the embedded broker:
    ``[hub] worker_threads`` worker threads, the dispatcher and the scheduler. Call
    ``handle.stop()`` on shutdown.

    :raises ConfigError: ``broker_url`` names Redis (run ``crmhub worker`` instead and use
        :func:`attach_dispatcher`).
    """
    if not is_embedded(hub.settings):
        raise ConfigError(
            "hub.broker_url names a Redis broker: jobs run in `crmhub worker`, not in-process",
            key="hub.broker_url",
        )
    return JobRuntime(
        hub, threads=max(1, hub.settings.hub.worker_threads), coordinator=True
    ).start()


def attach_dispatcher(hub: Hub) -> JobRuntime:
    """For ``crmhub serve`` on Redis: send jobs to the broker as soon as they commit.
    Call ``handle.stop()`` on shutdown."""
    return JobRuntime(hub).start()
