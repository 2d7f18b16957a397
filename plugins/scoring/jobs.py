"""The ``scoring.run`` job: score one instance (the job layer runs it after syncs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crmhub.core.hub import Hub


def run_scoring(hub: Hub, instance: str = "scoring.main", as_of: str | None = None) -> dict[str, Any]:
    """Score ``instance`` as of ``as_of`` (a date = end of that day, or an ISO date-time;
    default now) and return the run summary.

    Idempotent: a retry replaces the scores with the same numbers, and the default history
    policy (``changes``) adds no rows when nothing changed.
    """
    from crmhub.plugins.scoring.run import parse_as_of

    target = hub.instance(instance)
    summary = hub.plugins.score_customers(hub, target, parse_as_of(as_of, hub.now()))
    return summary or {}
