"""The relay: makes sure every job recorded in the database reaches a worker.

Each pass (run by the active scheduler, see :mod:`crmhub.core.jobs.coordinator`):

1. **recover** jobs ``running`` without a heartbeat for ``visibility_timeout`` — their
   worker was killed or lost its database: back to ``pending`` (the attempt counts), or
   ``failed`` when it was the last one;
2. **redeliver** jobs ``enqueued`` for longer than ``redeliver_after`` without being
   started — their message was lost (broker flushed or restarted without persistence);
3. **send** due ``pending`` jobs in batches. When the broker is down they stay pending
   and go out on a later pass; nothing is lost and the relay keeps running.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, update

from crmhub.core.jobs.bookkeeping import bookkeeping
from crmhub.core.jobs.sender import BATCH, Sender
from crmhub.core.models import Job

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

JOB = Job.__table__
log = logging.getLogger("crmhub.jobs.relay")
MAX_BATCHES = 20


@dataclass
class RelayReport:
    """What one pass did."""

    recovered: int = 0
    dead: int = 0
    redelivered: int = 0
    sent: int = 0


class Relay:
    """Recovers stale jobs and sends due ones."""

    def __init__(self, hub: Hub, sender: Sender) -> None:
        self.hub = hub
        self.sender = sender
        self.settings = hub.settings.jobs

    def tick(self, now: datetime) -> RelayReport:
        """One pass (see the module docstring)."""
        report = RelayReport()
        report.recovered, report.dead = self.recover(now)
        report.redelivered = self.redeliver(now)
        for _ in range(MAX_BATCHES):
            sent = self.sender.send_due(now=now)
            report.sent += sent
            if sent < BATCH or self.sender.broker_down:
                break
        return report

    def recover(self, now: datetime) -> tuple[int, int]:
        """Jobs whose worker stopped sending heartbeats: retry or dead-letter them."""
        cutoff = now - timedelta(seconds=self.settings.visibility_timeout)
        stale = and_(
            JOB.c.status == "running",
            or_(JOB.c.heartbeat_at < cutoff, JOB.c.heartbeat_at.is_(None)),
        )
        silence = f"{self.settings.visibility_timeout:g}s"
        message = f"its worker stopped responding (no heartbeat for {silence})"
        with bookkeeping(self.hub) as connection:
            retried = connection.execute(
                update(JOB)
                .where(stale, JOB.c.attempts < JOB.c.max_attempts)
                .values(
                    status="pending",
                    run_after=now,
                    enqueued_at=None,
                    last_error=message,
                    error_kind="transient",
                )
                .returning(JOB.c.id, JOB.c.worker)
            ).all()
            dead = connection.execute(
                update(JOB)
                .where(stale, JOB.c.attempts >= JOB.c.max_attempts)
                .values(
                    status="failed", finished_at=now, last_error=message, error_kind="transient"
                )
                .returning(JOB.c.id, JOB.c.actor, JOB.c.args)
            ).all()
        for row in retried:
            log.warning(
                "job %s was running on %s, which sent no heartbeat for %s; it runs again",
                row.id,
                row.worker,
                silence,
            )
        for row in dead:
            log.error("job %s lost its worker on its last attempt; it is a dead letter", row.id)
            spec = self.sender.registry.get(row.actor)
            if spec is not None and spec.on_dead is not None:
                try:
                    spec.on_dead(self.hub, dict(row.args or {}), message)
                except Exception:
                    log.warning("dead-letter handler of job %s failed", row.id, exc_info=True)
        return len(retried), len(dead)

    def redeliver(self, now: datetime) -> int:
        """Jobs handed to the broker long ago but never started: send them again."""
        cutoff = now - timedelta(seconds=self.settings.redeliver_after)
        with bookkeeping(self.hub) as connection:
            count = connection.execute(
                update(JOB)
                .where(JOB.c.status == "enqueued", JOB.c.enqueued_at < cutoff)
                .values(status="pending", enqueued_at=None)
            ).rowcount
        if count:
            log.warning(
                "%s job(s) were sent but not started within %gs; sending them again",
                count,
                self.settings.redeliver_after,
            )
        return int(count or 0)
