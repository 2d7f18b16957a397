"""Periodic syncs: every enabled source instance with a ``sync_interval``.

An instance is due when its last sync run — or the last sync job scheduled for it, so a
job that fails before starting a run is not rescheduled in a tight loop — started an
interval ago or more. The job's key ``sync:<instance>:all`` makes a second scheduling
of the same work a no-op while the first is still waiting or running, and only the
holder of the scheduler lease schedules at all (see
:mod:`crmhub.core.jobs.coordinator`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from crmhub.core.jobs.queue import ACTIVE, enqueue
from crmhub.core.models import Job, SyncRun
from crmhub.core.sync import sync_job_key

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

JOB = Job.__table__
RUN = SyncRun.__table__
log = logging.getLogger("crmhub.jobs.scheduler")


def scheduled_instances(hub: Hub) -> list[tuple[str, int]]:
    """Enabled source instances with a sync interval: (instance id, seconds)."""
    found = []
    for instance in hub.enabled_instances():
        seconds = instance.settings.sync_interval_seconds
        if seconds and hub.plugins.implements(instance.plugin, "crmhub_source_streams"):
            found.append((instance.id, seconds))
    return found


def schedule_syncs(hub: Hub, now: datetime) -> list[int]:
    """Enqueue a sync job for every instance that is due; returns the new jobs' ids."""
    scheduled = []
    for instance_id, seconds in scheduled_instances(hub):
        key = sync_job_key(instance_id)
        with hub.transaction() as session:
            last_run = session.execute(
                select(func.max(RUN.c.started_at)).where(RUN.c.instance == instance_id)
            ).scalar()
            last_job = session.execute(
                select(func.max(JOB.c.created_at)).where(JOB.c.key == key)
            ).scalar()
            last = max((t for t in (last_run, last_job) if t is not None), default=None)
            if last is not None and last + timedelta(seconds=seconds) > now:
                continue
            waiting = session.execute(
                select(JOB.c.id).where(JOB.c.key == key, JOB.c.status.in_(ACTIVE))
            ).first()
            if waiting is not None:
                continue
            job_id = enqueue(
                session,
                "sync",
                {"instance": instance_id, "stream": None, "full": False},
                now=now,
                key=key,
            )
        log.info("scheduled a sync of %s (job %s)", instance_id, job_id)
        scheduled.append(job_id)
    return scheduled
