"""Flows driven by the real segments engine: a refresh calls the listener, a push calls the
email destination. Runs once the segments engine (crmhub.core.segments) is installed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from email_support import Clock, add_customers, add_order, sends
from sqlalchemy import select

from crmhub.core.ingest import ingestor
from crmhub.core.models import PushState
from crmhub.core.records import ConsentRecord, CustomerRecord
from crmhub.plugins.email.jobs import deliver
from crmhub.plugins.email.suppression import address_hash
from tests.conftest import T0

segments = pytest.importorskip("crmhub.core.segments", reason="the segments engine is not on this branch yet")

SEGMENTS = {"buyers": {"rule": "orders_count >= 1 and consent.email", "destinations": ["email.main"]}}


def test_refresh_starts_the_flow_and_the_push_confirms_and_removes(email_hub, smtp_server):
    clock = Clock(T0 + timedelta(days=1))
    hub = email_hub(clock=clock, segments=SEGMENTS,
                    flows={"welcome": {"segment": "buyers", "template": "welcome", "delay": "0s"}})
    add_customers(hub, 2)
    add_order(hub, "c0@example.com", T0, "20.00", number="o1")
    add_order(hub, "c1@example.com", T0, "30.00", number="o2")

    segments.refresh_segments(hub)
    assert {row.status for row in sends(hub, kind="flow")} == {"queued"}
    deliver(hub, "email.main")
    assert smtp_server.handler.per_recipient() == {"c0@example.com": 1, "c1@example.com": 1}

    [report] = segments.push_segments(hub, destinations=["email.main"])
    assert report.added == 2 and report.status == "succeeded"
    with hub.transaction() as session:
        remote = set(session.execute(select(PushState.__table__.c.remote_id)).scalars())
    assert remote == {address_hash("c0@example.com"), address_hash("c1@example.com")}

    ingestor(hub).ingest_and_commit([CustomerRecord(
        instance="import.default", external_id="c1", email="c1@example.com", source_updated_at=clock.now,
        consent=[ConsentRecord(granted=False, recorded_at=clock.now)])])
    segments.refresh_segments(hub)
    [again] = segments.push_segments(hub, destinations=["email.main"])
    assert again.removed == 1
    assert smtp_server.handler.per_recipient() == {"c0@example.com": 1, "c1@example.com": 1}
