"""The coordinator: one active scheduler per database, however many are started.

Every ``crmhub worker`` (and the embedded ``crmhub serve``) runs a coordinator loop.
Each pass tries to take or renew the ``scheduler`` lease; only its holder runs the relay
(:mod:`~crmhub.core.jobs.relay`), closes sync runs whose worker died, schedules periodic
syncs (:mod:`~crmhub.core.jobs.scheduler`) and, hourly, deletes old succeeded jobs and clears
the bodies of processed webhooks past their retention. When the holder dies its lease
lapses after ``leader_ttl`` and another coordinator takes over.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, update

from crmhub.core.jobs.bookkeeping import release_thread_connection
from crmhub.core.jobs.leases import acquire_lease, new_owner, release_lease
from crmhub.core.jobs.relay import Relay, RelayReport
from crmhub.core.jobs.scheduler import schedule_syncs
from crmhub.core.jobs.sender import Sender
from crmhub.core.models import Job, WebhookEvent
from crmhub.core.sync.runner import close_orphaned_runs

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

LEADER_LEASE = "scheduler"
MAINTENANCE_EVERY = timedelta(hours=1)
log = logging.getLogger("crmhub.jobs.coordinator")


class Coordinator:
    """Leader election around the relay, the scheduler and housekeeping."""

    def __init__(self, hub: Hub, sender: Sender, *, owner: str | None = None) -> None:
        self.hub = hub
        self.relay = Relay(hub, sender)
        self.owner = owner or new_owner("scheduler")
        self.settings = hub.settings.jobs
        self.leader = False
        self._last_maintenance: datetime | None = None

    def tick(self, now: datetime | None = None) -> RelayReport | None:
        """One pass. Returns the relay's report when this coordinator is the leader,
        None otherwise."""
        now = now or self.hub.now()
        with self.hub.transaction() as session:
            leader = acquire_lease(
                session, LEADER_LEASE, self.owner, now=now, ttl=self.settings.leader_ttl
            )
        if leader != self.leader:
            log.info(
                "%s the active scheduler (%s)", "became" if leader else "is no longer", self.owner
            )
            self.leader = leader
        if not leader:
            return None
        report = self.relay.tick(now)
        close_orphaned_runs(self.hub, now)
        schedule_syncs(self.hub, now)
        if self._last_maintenance is None or now - self._last_maintenance >= MAINTENANCE_EVERY:
            self.maintain(now)
            self._last_maintenance = now
        return report

    def maintain(self, now: datetime) -> None:
        """Delete succeeded jobs past ``retention_days``; clear processed webhook bodies
        past ``webhook_retention_days``."""
        job, event = Job.__table__, WebhookEvent.__table__
        with self.hub.transaction() as session:
            session.execute(
                delete(job).where(
                    job.c.status == "succeeded",
                    job.c.finished_at < now - timedelta(days=self.settings.retention_days),
                )
            )
            session.execute(
                update(event)
                .where(
                    event.c.status == "done",
                    event.c.body.is_not(None),
                    event.c.processed_at
                    < now - timedelta(days=self.hub.settings.hub.webhook_retention_days),
                )
                .values(body=None)
            )

    def run(self, stop: threading.Event) -> None:
        """Pass every ``relay_interval`` seconds until ``stop`` is set; errors (database
        or broker down) are logged and the loop goes on."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:
                log.warning("scheduler pass failed; trying again", exc_info=True)
            stop.wait(self.settings.relay_interval)
        self.resign()
        release_thread_connection(self.hub)

    def resign(self) -> None:
        """Give the lease up so another coordinator takes over at once."""
        if not self.leader:
            return
        try:
            with self.hub.transaction() as session:
                release_lease(session, LEADER_LEASE, self.owner)
        except Exception:
            log.warning("could not release the scheduler lease; it lapses by itself", exc_info=True)
        self.leader = False
