"""Asking the job layer to deliver later: one ``email.deliver`` job per instance and due time.

The job is recorded in the caller's transaction (the outbox), so a flow enrolment or a
deferred retry and the job that will deliver it commit together.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from crmhub.core.jobs import enqueue

DELIVER = "email.deliver"
SEND_CAMPAIGN = "email.send_campaign"


def schedule_delivery(session: Session, instance: str, due_at: datetime, *, now: datetime) -> int:
    """Record an ``email.deliver`` job for ``instance`` that runs at ``due_at`` (or now).

    Jobs for the same instance and second are deduplicated while pending.
    """
    delay = max(timedelta(0), due_at - now)
    when = max(due_at, now).strftime("%Y%m%dT%H%M%S")
    return enqueue(session, DELIVER, {"instance": instance}, now=now, key=f"{DELIVER}:{instance}:{when}", delay=delay)
