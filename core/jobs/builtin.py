"""The jobs crmhub itself runs.

==================  =================================================  ================
name                arguments                                          queue
==================  =================================================  ================
``ping``            none: checks that workers run jobs end to end      crmhub.default
``sync``            ``instance``, ``stream`` (None = all), ``full``    crmhub.sync
``webhook``         ``event_id`` of a stored webhook delivery          crmhub.webhook
``score``           ``as_of`` (ISO time, default now)                  crmhub.default
``segments.refresh`` ``names`` (None = all)                            crmhub.default
``segments.push``   ``destinations``, ``segments`` (None = all)       crmhub.default
``erasure``         ``request_id`` of a privacy request                crmhub.default
==================  =================================================  ================
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmhub.core.errors import PermanentJobError
from crmhub.core.jobs.context import Defer, current_job
from crmhub.core.jobs.followups import enqueue_followup, scorer_instances
from crmhub.core.jobs.registry import QUEUE_SYNC, QUEUE_WEBHOOK, JobSpec
from crmhub.core.records import utc

if TYPE_CHECKING:
    from crmhub.core.hub import Hub


def ping(hub: Hub) -> dict[str, Any]:
    """A job that does nothing: proves the broker, the workers and the database agree."""
    return {"pong": True}


def sync(hub: Hub, instance: str, stream: str | None = None, full: bool = False) -> dict[str, Any]:
    """Sync an instance (one stream or all), resuming from the committed cursors."""
    from crmhub.core.sync import SyncBusy, SyncInterrupted, run_sync

    job = current_job()
    try:
        runs = run_sync(
            hub,
            instance,
            stream=stream,
            full=full,
            should_stop=job.should_stop if job is not None else None,
        )
    except SyncBusy as exc:
        raise Defer(exc.message, delay=exc.retry_after) from exc
    except SyncInterrupted as exc:
        raise Defer(exc.message) from exc
    return {"runs": [run.model_dump(mode="json", include=SUMMARY_FIELDS) for run in runs]}


SUMMARY_FIELDS = {
    "id",
    "stream",
    "status",
    "records_read",
    "created",
    "updated",
    "unchanged",
    "deleted",
    "skipped",
    "expected_total",
    "actual_total",
}


def webhook(hub: Hub, event_id: int) -> dict[str, Any]:
    """Process one stored webhook delivery."""
    from crmhub.core.jobs.webhook import process_webhook_event

    return process_webhook_event(hub, int(event_id))


def _webhook_dead(hub: Hub, args: dict[str, Any], error: str) -> None:
    from crmhub.core.jobs.webhook import mark_event_failed

    mark_event_failed(hub, args, error)


def score(hub: Hub, as_of: str | None = None) -> dict[str, Any]:
    """Run every enabled scorer instance, then refresh segments."""
    moment = utc(datetime.fromisoformat(as_of)) if as_of else hub.now()
    summaries: dict[str, Any] = {}
    for instance_id in scorer_instances(hub):
        summaries[instance_id] = hub.plugins.score_customers(hub, hub.instance(instance_id), moment)
    with hub.transaction() as session:
        enqueue_followup(session, hub, after="score")
    return {"as_of": moment.isoformat(), "scorers": summaries}


def refresh_segments(hub: Hub, names: list[str] | None = None) -> Any:
    """Recompute segment membership, then push changes to destinations."""
    try:
        from crmhub.core.segments.refresh import refresh_segments as refresh
    except ImportError as exc:
        raise PermanentJobError(f"segments are not available in this installation: {exc}") from exc
    result = refresh(hub, names=names)
    with hub.transaction() as session:
        enqueue_followup(session, hub, after="segments.refresh")
    return result


def push_segments(
    hub: Hub, destinations: list[str] | None = None, segments: list[str] | None = None
) -> Any:
    """Push segment membership changes to destinations."""
    try:
        from crmhub.core.segments.push import push_segments as push
    except ImportError as exc:
        raise PermanentJobError(
            f"segment push is not available in this installation: {exc}"
        ) from exc
    return push(hub, destinations=destinations, segments=segments, dry_run=False)


def erasure(hub: Hub, request_id: int) -> dict[str, Any]:
    """Tell destinations about an erased customer."""
    from crmhub.core.jobs.erasure import propagate_erasure

    return propagate_erasure(hub, int(request_id))


def builtin_jobs() -> list[JobSpec]:
    """Specs of the built-in jobs."""
    return [
        JobSpec("ping", ping),
        JobSpec("sync", sync, queue=QUEUE_SYNC),
        JobSpec("webhook", webhook, queue=QUEUE_WEBHOOK, on_dead=_webhook_dead),
        JobSpec("score", score),
        JobSpec("segments.refresh", refresh_segments),
        JobSpec("segments.push", push_segments),
        JobSpec("erasure", erasure),
    ]
