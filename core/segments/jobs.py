"""Segment jobs for the job layer: refresh (after scoring runs and relevant changes) and
push (after a refresh changed a segment that has destinations).

Register :data:`JOBS` with the worker; call :func:`schedule_refresh` in the transaction
of a change that may move customers between segments (a scoring run, an import, a
consent change). The dedupe key collapses a burst of changes into one pending refresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from crmhub.core.errors import TransientRemoteError
from crmhub.core.jobs.queue import enqueue
from crmhub.core.segments.push import push_segments
from crmhub.core.segments.refresh import refresh_segments

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

REFRESH_JOB = "segments.refresh"
PUSH_JOB = "segments.push"


def schedule_refresh(session: Session, *, now: datetime, names: list[str] | None = None,
                     delay: timedelta = timedelta(seconds=30)) -> int:
    """Record a refresh job in the caller's transaction (one pending refresh at a time per
    set of names); returns the job id."""
    key = REFRESH_JOB + (":" + ",".join(sorted(names)) if names else "")
    return enqueue(session, REFRESH_JOB, {"names": names}, now=now, key=key, delay=delay)


def refresh_job(hub: Hub, names: list[str] | None = None) -> dict[str, Any]:
    """Refresh segments; when a segment with destinations changed, schedule a push of it."""
    results = refresh_segments(hub, names)
    changed = sorted(r.segment for r in results
                     if (r.entered or r.exited) and r.segment in hub.settings.segments
                     and hub.settings.segments[r.segment].destinations)
    if changed:
        with hub.transaction() as session:
            enqueue(session, PUSH_JOB, {"segments": changed}, now=hub.now(), key=PUSH_JOB + ":" + ",".join(changed))
    return {"segments": [r.as_dict() for r in results], "push_scheduled": changed}


def push_job(hub: Hub, destinations: list[str] | None = None, segments: list[str] | None = None) -> dict[str, Any]:
    """Push segment differences. Raises a transient error when customers were not
    confirmed, so the job layer retries (and the retry sends only those customers)."""
    reports = push_segments(hub, destinations=destinations, segments=segments)
    failed = sum(r.failed for r in reports)
    if failed:
        raise TransientRemoteError(f"{failed} customer change(s) were not confirmed by destinations; retrying them")
    return {"reports": [r.as_dict() for r in reports]}


JOBS = {REFRESH_JOB: refresh_job, PUSH_JOB: push_job}
