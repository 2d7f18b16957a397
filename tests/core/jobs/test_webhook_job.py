"""Processing the webhook inbox: once, in one transaction, failures kept on the event."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import insert, select

from crmhub.core.errors import NotFound
from crmhub.core.jobs import enqueue, process_webhook_event, retry_job
from crmhub.core.jobs.executor import Executor
from crmhub.core.models import Customer, WebhookEvent
from tests.core.jobs.support import T0, count, hub_identities, job_row

EVENT = WebhookEvent.__table__


def accept(hub, delivery_id, customer, *, max_attempts=8):
    """What POST /webhooks/... does: store the delivery and enqueue its job together."""
    with hub.transaction() as session:
        event_id = session.execute(
            insert(EVENT).returning(EVENT.c.id),
            {
                "instance": "testsource.main",
                "delivery_id": delivery_id,
                "topic": "customers/update",
                "received_at": hub.now(),
                "headers": {},
                "body": json.dumps(customer).encode(),
                "status": "pending",
                "attempts": 0,
            },
        ).scalar_one()
        job_id = enqueue(
            session,
            "webhook",
            {"event_id": event_id},
            now=hub.now(),
            key=f"webhook:{event_id}",
            max_attempts=max_attempts,
        )
    return event_id, job_id


def event(hub, event_id):
    with hub.engine.connect() as connection:
        return connection.execute(select(EVENT).where(EVENT.c.id == event_id)).one()


CUSTOMER = {
    "id": "77",
    "email": "ann@example.com",
    "first_name": "Ann",
    "updated_at": T0.isoformat(),
}


def test_an_event_is_ingested_and_marked_done_once(build_hub):
    hub = build_hub()
    event_id, job_id = accept(hub, "d-1", CUSTOMER)

    assert Executor(hub).execute(job_id) == "succeeded"
    assert job_row(hub, job_id).result["created"] == 1
    assert event(hub, event_id).status == "done"
    assert hub_identities(hub) == {"77": ("ann@example.com", "Ann")}

    # Processing it again changes nothing
    assert process_webhook_event(hub, event_id)["status"] == "already_done"
    assert count(hub, Customer.__table__) == 1


def test_a_failure_is_kept_on_the_event_which_is_retried_and_finally_dead_lettered(
    build_hub, tmp_path
):
    fail_file = tmp_path / "down"
    fail_file.touch()
    hub = build_hub(
        source={"fail_file": str(fail_file)}, jobs={"retry_base": 0.001, "retry_max": 0.001}
    )
    event_id, job_id = accept(hub, "d-2", CUSTOMER, max_attempts=2)
    executor = Executor(hub)

    assert executor.execute(job_id) == "retry"
    stored = event(hub, event_id)
    assert (stored.status, stored.attempts) == ("pending", 1)
    assert "unavailable" in stored.error

    import time

    time.sleep(0.01)
    assert executor.execute(job_id) == "failed"
    assert event(hub, event_id).status == "failed"

    # When the remote is back and the dead letter is retried
    fail_file.unlink()
    with hub.transaction() as session:
        retry_job(session, job_id, hub.now())
    assert executor.execute(job_id) == "succeeded"
    assert event(hub, event_id).status == "done"
    assert "77" in hub_identities(hub)


def test_a_missing_event_fails_at_once(build_hub):
    hub = build_hub()
    with pytest.raises(NotFound):
        process_webhook_event(hub, 999)
    with hub.transaction() as session:
        job_id = enqueue(session, "webhook", {"event_id": 999}, now=hub.now())
    assert Executor(hub).execute(job_id) == "failed"
    assert job_row(hub, job_id).attempts == 1
