"""Follow-up work after data changed: scoring, then segment refresh, then segment push.

A sync or webhook that changed something enqueues the next step a little later
(``[jobs] followup_delay``), keyed so that a burst of changes coalesces into one run
while the step is still pending. Each step enqueues the one after it. Steps the hub cannot
run (no scorer instance, no segments configured, or the segments package missing) are
skipped, so nothing waits on work that can never happen.
"""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from crmhub.core.jobs.queue import enqueue

if TYPE_CHECKING:
    from crmhub.core.hub import Hub


def scorer_instances(hub: Hub) -> list[str]:
    """Enabled instances whose plugin scores customers."""
    return [
        instance.id
        for instance in hub.enabled_instances()
        if hub.plugins.implements(instance.plugin, "crmhub_score_customers")
    ]


def _module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def segments_available(hub: Hub) -> bool:
    """Whether segments are configured and the segment engine is installed."""
    return bool(hub.settings.segments) and _module_available("crmhub.core.segments.refresh")


def push_available(hub: Hub) -> bool:
    """Whether any segment has destinations and the push engine is installed."""
    return any(s.destinations for s in hub.settings.segments.values()) and _module_available(
        "crmhub.core.segments.push"
    )


def next_step(hub: Hub, after: str) -> str | None:
    """The job that should follow ``after`` (``sync``, ``webhook``, ``score``,
    ``segments.refresh``), or None."""
    chain = ["score", "segments.refresh", "segments.push"]
    start = chain.index(after) + 1 if after in chain else 0
    checks = {
        "score": lambda: bool(scorer_instances(hub)),
        "segments.refresh": lambda: segments_available(hub),
        "segments.push": lambda: push_available(hub),
    }
    for step in chain[start:]:
        if step == "segments.push" and after != "segments.refresh":
            return None
        if checks[step]():
            return step
    return None


def enqueue_followup(session: Session, hub: Hub, *, after: str) -> int | None:
    """Enqueue the step after ``after`` in the caller's transaction, coalesced with one
    that is still pending. Returns the job id, or None when nothing follows."""
    step = next_step(hub, after)
    if step is None:
        return None
    delay = (
        timedelta(seconds=hub.settings.jobs.followup_delay)
        if after in ("sync", "webhook")
        else None
    )
    return enqueue(session, step, {}, now=hub.now(), key=step, delay=delay, dedupe_on=("pending",))
