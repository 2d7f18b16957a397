"""Processing the webhook inbox: stored delivery → plugin → canonical records → ingest.

``POST /webhooks/{plugin}/{instance}`` stores a verified delivery as a
:class:`~crmhub.core.models.WebhookEvent` and enqueues a ``webhook`` job in the same
transaction. The job calls :func:`process_webhook_event`, which ingests the plugin's
records and marks the event ``done`` in one transaction, so an event is either fully
processed or not at all. Processing twice is harmless: a ``done`` event is skipped, and
two workers racing on one event are serialised by the row update that opens the
transaction.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from crmhub.core.errors import NotFound
from crmhub.core.ingest import ingestor
from crmhub.core.jobs.followups import enqueue_followup
from crmhub.core.jobs.policy import describe
from crmhub.core.models import WebhookEvent

if TYPE_CHECKING:
    from crmhub.core.hub import Hub

EVENT = WebhookEvent.__table__
log = logging.getLogger("crmhub.jobs.webhook")


def process_webhook_event(hub: Hub, event_id: int) -> dict[str, Any]:
    """Process one stored webhook delivery (idempotent).

    :returns: ``{"event_id", "status", "created", "updated", "unchanged", …}``;
        ``status`` is ``already_done`` when an earlier run processed it.
    :raises NotFound: no such event (a permanent failure).
    :raises Exception: whatever the plugin or the ingest raised; the error is recorded on
        the event (which stays ``pending``) before it propagates to the job layer.
    """
    try:
        with hub.transaction() as session:
            claimed = session.execute(
                update(EVENT)
                .where(EVENT.c.id == event_id, EVENT.c.status != "done")
                .values(attempts=EVENT.c.attempts + 1)
            ).rowcount
            if not claimed:
                if (
                    session.execute(select(EVENT.c.id).where(EVENT.c.id == event_id)).first()
                    is None
                ):
                    raise NotFound(f"webhook event {event_id} does not exist")
                return {"event_id": event_id, "status": "already_done"}
            event = session.get(WebhookEvent, event_id)
            assert event is not None
            instance = hub.instance(event.instance)
            records = hub.plugins.webhook_process(hub, instance, event)
            service = ingestor(hub)
            result = service.ingest(session, list(records), source=instance.id)
            session.execute(
                update(EVENT)
                .where(EVENT.c.id == event_id)
                .values(status="done", processed_at=hub.now(), error=None)
            )
            if result.written:
                enqueue_followup(session, hub, after="webhook")
    except Exception as exc:
        _record_error(hub, event_id, describe(exc))
        raise
    service.notify(result)
    return {
        "event_id": event_id,
        "status": "done",
        "instance": instance.id,
        "topic": event.topic,
        "records": len(records),
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "deleted": result.deleted,
        "skipped": result.skipped,
    }


def _record_error(hub: Hub, event_id: int, message: str) -> None:
    """Keep the latest error on the event (it stays pending: the job layer retries)."""
    try:
        with hub.transaction() as session:
            session.execute(
                update(EVENT)
                .where(EVENT.c.id == event_id, EVENT.c.status != "done")
                .values(error=message, attempts=EVENT.c.attempts + 1)
            )
    except Exception:  # the database itself may be what failed; the job layer retries
        log.warning("could not record the error of webhook event %s", event_id, exc_info=True)


def mark_event_failed(hub: Hub, args: dict[str, Any], error: str) -> None:
    """Dead-letter hook of the ``webhook`` job: the event is ``failed`` with the error
    (retrying the job processes it again)."""
    event_id = args.get("event_id")
    if event_id is None:
        return
    with hub.transaction() as session:
        session.execute(
            update(EVENT)
            .where(EVENT.c.id == event_id, EVENT.c.status != "done")
            .values(status="failed", error=error)
        )
