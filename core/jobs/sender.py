"""Handing jobs from the outbox to the broker.

:meth:`Sender.send_due` first takes the right to send a batch with one conditional UPDATE
(``pending`` → ``enqueued``), then sends one message per job; jobs whose message could
not be sent (broker down) go back to ``pending`` for the next pass. Because the status
changes before the send, a worker never sees a message for a job still marked pending,
and two senders never send the same batch. A crash between the two steps leaves jobs
``enqueued`` without a message: the relay sends them again after ``redeliver_after``.

:class:`Dispatcher` sends jobs as soon as the transaction that enqueued them commits
(see :mod:`crmhub.core.jobs.queue`), from background threads, so that a webhook does not
wait for the relay's next pass. Jobs enqueued in such a process are written ``enqueued``
already, so sending them costs no database round trip unless the broker is down.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime
from typing import TYPE_CHECKING

import dramatiq
from sqlalchemy import select, update

from crmhub.core.jobs.bookkeeping import bookkeeping, release_thread_connection
from crmhub.core.jobs.broker import job_message
from crmhub.core.jobs.queue import DISPATCH_KEY
from crmhub.core.jobs.registry import JobRegistry
from crmhub.core.models import Job
from crmhub.core.storage.bulk import chunks

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

JOB = Job.__table__
log = logging.getLogger("crmhub.jobs.sender")
BATCH = 500
#: Ids a dispatcher thread sends at a time.
CHUNK = 100


class Sender:
    """Sends due jobs of one hub to one broker."""

    def __init__(self, hub: Hub, broker: dramatiq.Broker, registry: JobRegistry) -> None:
        self.hub = hub
        self.broker = broker
        self.registry = registry
        self.broker_down = False

    def send_due(self, *, now: datetime, ids: list[int] | None = None, limit: int = BATCH) -> int:
        """Send up to ``limit`` pending jobs that are due (only those in ``ids`` if given).

        :returns: how many messages were sent; stops early (leaving jobs pending) when the
            broker cannot be reached.
        """
        due = select(JOB.c.id).where(JOB.c.status == "pending", JOB.c.run_after <= now)
        if ids is not None:
            due = due.where(JOB.c.id.in_(ids))
        due = due.order_by(JOB.c.run_after, JOB.c.id).limit(limit)
        if self.hub.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        claim = (
            update(JOB)
            .where(JOB.c.id.in_(due.scalar_subquery()), JOB.c.status == "pending")
            .values(status="enqueued", enqueued_at=now)
            .returning(JOB.c.id, JOB.c.actor)
        )
        with bookkeeping(self.hub) as connection:
            rows = sorted(connection.execute(claim).all())
        return self.send_enqueued([(row.id, row.actor) for row in rows], now=now)

    def send_enqueued(self, jobs: list[tuple[int, str]], *, now: datetime) -> int:
        """Send jobs already marked ``enqueued`` (by :meth:`send_due`, or by ``enqueue``
        in a process with a dispatcher). Jobs that cannot be sent go back to ``pending``.

        :returns: how many messages were sent.
        """
        sent = 0
        unknown: list[int] = []
        for position, (job_id, actor) in enumerate(jobs):
            message = job_message(self.registry, actor, job_id)
            if message is None:
                unknown.append(job_id)
                continue
            try:
                self.broker.enqueue(message)
            except Exception as exc:
                self._down(exc)
                self.revert([j for j, _ in jobs[position:]])
                break
            sent += 1
        else:
            self._up()
        if unknown:
            self._fail_unknown(unknown, now)
        return sent

    def revert(self, ids: list[int]) -> None:
        """Put ``enqueued`` jobs that were not sent back to ``pending`` (for the relay)."""
        with bookkeeping(self.hub) as connection:
            for part in chunks(ids):
                connection.execute(
                    update(JOB)
                    .where(JOB.c.id.in_(part), JOB.c.status == "enqueued")
                    .values(status="pending", enqueued_at=None)
                )

    def _fail_unknown(self, ids: list[int], now: datetime) -> None:
        with bookkeeping(self.hub) as connection:
            for part in chunks(ids):
                connection.execute(
                    update(JOB)
                    .where(JOB.c.id.in_(part), JOB.c.status == "enqueued")
                    .values(
                        status="failed",
                        finished_at=now,
                        error_kind="config",
                        last_error="no job of this name is registered here (is its plugin installed?)",
                    )
                )
        log.error("jobs %s name jobs that are not registered; marked failed", ids)

    def _down(self, exc: BaseException) -> None:
        if not self.broker_down:
            log.warning("the broker is unreachable; jobs stay pending until it returns: %s", exc)
        self.broker_down = True

    def _up(self) -> None:
        if self.broker_down:
            log.warning("the broker is reachable again; sending pending jobs")
        self.broker_down = False


Handed = list[tuple[int, str | None]]


class Dispatcher:
    """Sends newly committed jobs from background threads (see the module docstring).

    Jobs are handed over in chunks of :data:`CHUNK`; a few threads send chunks in
    parallel, so a burst (a bulk enqueue, a storm of webhooks) reaches the broker at the
    broker's pace, and single jobs that queue up meanwhile go out together."""

    def __init__(self, sender: Sender, *, threads: int = 4) -> None:
        self.sender = sender
        self._queue: queue.Queue[Handed | None] = queue.Queue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"crmhub-dispatcher-{n}", daemon=True)
            for n in range(threads)
        ]

    def attach(self) -> Dispatcher:
        """Start the threads and receive the jobs the hub's sessions commit."""
        for thread in self._threads:
            thread.start()
        self.sender.hub.sessions.configure(info={DISPATCH_KEY: self.submit})
        return self

    def submit(self, jobs: Handed) -> None:
        """Queue committed jobs for sending: ``(id, actor)`` for jobs written ``enqueued``,
        ``(id, None)`` for ``pending`` ones."""
        if self._closed:  # shutting down: leave them to the relay
            self.sender.revert([job_id for job_id, actor in jobs if actor is not None])
            return
        for part in chunks(jobs, CHUNK):
            self._queue.put(list(part))

    def close(self) -> None:
        """Stop receiving jobs and let the threads finish what they hold."""
        self._closed = True
        self.sender.hub.sessions.configure(info={})
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def _loop(self) -> None:
        try:
            self._drain()
        finally:
            release_thread_connection(self.sender.hub)

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            jobs = list(item)
            while len(jobs) < CHUNK:  # single jobs that queued up meanwhile go out together
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._send(jobs)
                    return
                jobs.extend(more)
            self._send(jobs)

    def _send(self, jobs: Handed) -> None:
        marked = [(job_id, actor) for job_id, actor in jobs if actor is not None]
        pending = [job_id for job_id, actor in jobs if actor is None]
        try:
            if marked:
                self.sender.send_enqueued(marked, now=self.sender.hub.now())
            if pending:
                self.sender.send_due(now=self.sender.hub.now(), ids=pending, limit=len(pending))
        except Exception:  # the relay sends them later
            log.warning(
                "could not dispatch jobs %s…; the relay will send them", jobs[:5], exc_info=True
            )
