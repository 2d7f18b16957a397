"""Flows started by segment changes (listener and destination push), and erasure."""

from __future__ import annotations

from datetime import timedelta

from email_support import Clock, add_customers, join_segment, sends
from sqlalchemy import select

from crmhub.core.destinations import PushBatch, PushItem
from crmhub.core.ingest import ingestor
from crmhub.core.models import Job
from crmhub.core.privacy import erase_customer
from crmhub.core.records import ConsentRecord, CustomerRecord
from crmhub.plugins.email.campaigns import send_campaign
from crmhub.plugins.email.jobs import deliver
from crmhub.plugins.email.models import EmailSuppression
from crmhub.plugins.email.suppression import address_hash
from tests.conftest import T0


def _jobs(hub):
    with hub.transaction() as session:
        return [(job.actor, job.args, job.run_after) for job in session.execute(select(Job.__table__))]


def test_entering_customers_get_the_flow_email_after_its_delay(email_hub, smtp_server):
    clock = Clock(T0)
    hub = email_hub(clock=clock)
    ids = add_customers(hub, 3)
    join_segment(hub, "newcomers", ids)

    hub.plugins.segment_changed(hub, "newcomers", ids, [])
    hub.plugins.segment_changed(hub, "newcomers", ids, [])  # a repeated call enrols nobody twice

    rows = sends(hub, kind="flow", name="welcome")
    assert [(row.status, row.due_at) for row in rows] == [("queued", T0 + timedelta(hours=1))] * 3
    assert _jobs(hub) == [("email.deliver", {"instance": "email.main"}, T0 + timedelta(hours=1))]
    deliver(hub, "email.main")
    assert smtp_server.handler.messages == []
    clock.advance(hours=1)
    deliver(hub, "email.main")
    assert smtp_server.handler.per_recipient() == {f"c{i}@example.com": 1 for i in range(3)}
    welcome = smtp_server.handler.to("c1@example.com")[0].parsed()
    assert welcome["Subject"] == "Welcome!" and "Welcome Name1" in welcome.get_body(("plain",)).get_content()
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_leaving_before_the_delay_cancels_in_both_arms_and_after_it_changes_nothing(email_hub, smtp_server):
    clock = Clock(T0)
    hub = email_hub(clock=clock, flows={"welcome": {"segment": "newcomers", "template": "welcome", "delay": "1d",
                                                    "holdout": 0.5}})
    ids = add_customers(hub, 20)
    hub.plugins.segment_changed(hub, "newcomers", ids, [])
    leaving = ids[:10]

    hub.plugins.segment_changed(hub, "newcomers", [], leaving)
    clock.advance(days=1)
    deliver(hub, "email.main")
    hub.plugins.segment_changed(hub, "newcomers", [], ids[10:])

    rows = {row.customer_id: row for row in sends(hub)}
    assert {rows[cid].status for cid in leaving} == {"cancelled"}
    assert {rows[cid].arm for cid in leaving} == {"treated", "control"}
    stayed = [rows[cid] for cid in ids[10:]]
    assert {row.status for row in stayed} == {"sent", "held_out"}
    assert len(smtp_server.handler.messages) == sum(row.arm == "treated" for row in stayed)


def test_customers_without_consent_are_not_enrolled(email_hub, smtp_server):
    hub = email_hub()
    ids = add_customers(hub, 2, consent=False)
    hub.plugins.segment_changed(hub, "newcomers", ids, [])
    assert sends(hub) == [] and _jobs(hub) == []


def _item(hub, cid, action):
    from crmhub.core.models import Customer

    with hub.transaction() as session:
        email = session.execute(select(Customer.__table__.c.email).where(Customer.__table__.c.id == cid)).scalar()
    return PushItem(customer_id=cid, action=action, email=email)


def test_a_segment_push_enrols_recent_members_and_cancels_removed_ones(email_hub, smtp_server):
    clock = Clock(T0 + timedelta(days=30))
    hub = email_hub(clock=clock)
    destination = hub.plugins.destination(hub, hub.instance("email.main"))
    assert destination.required_consent == "email"
    recent, old = add_customers(hub, 2)
    join_segment(hub, "newcomers", [recent], entered_at=clock.now - timedelta(minutes=20))
    join_segment(hub, "newcomers", [old], entered_at=clock.now - timedelta(days=8))

    assert destination.push(PushBatch(segment="newcomers", items=[_item(hub, recent, "add")], dry_run=True)).confirmed == {}
    assert sends(hub) == []
    result = destination.push(PushBatch(segment="newcomers", items=[_item(hub, recent, "add"), _item(hub, old, "add")]))

    assert result.confirmed == {recent: address_hash("c0@example.com"), old: address_hash("c1@example.com")}
    [row] = sends(hub)
    assert row.customer_id == recent and row.due_at == clock.now + timedelta(minutes=40)  # 1h after entering
    destination.push(PushBatch(segment="newcomers", items=[PushItem(customer_id=recent, action="remove", email=None)]))
    assert sends(hub)[0].status == "cancelled"
    # a segment without flows is accepted and does nothing
    assert destination.push(PushBatch(segment="champions", items=[_item(hub, old, "add")])).confirmed == {
        old: address_hash("c1@example.com")}


def test_erasure_keeps_the_address_suppressed_without_keeping_it_readable(email_hub, smtp_server):
    hub = email_hub()
    [gone, kept] = add_customers(hub, 2)
    join_segment(hub, "champions", [gone, kept])
    send_campaign(hub, "spring")
    hub.plugins.segment_changed(hub, "newcomers", [gone], [])

    with hub.transaction() as session:
        erase_customer(session, gone, source="api", reason="GDPR", now=hub.now())
    hub.plugins.customer_erased(hub, gone, [])

    with hub.transaction() as session:
        [entry] = session.execute(select(EmailSuppression.__table__)).all()
    assert (entry.address_hash, entry.reason, entry.email) == (address_hash("c0@example.com"), "erased", None)
    rows = {(row.kind, row.customer_id): row for row in sends(hub)}
    assert rows[("campaign", gone)].links == [] and rows[("flow", gone)].status == "cancelled"
    # the same address coming back as a new customer is still never mailed
    result = ingestor(hub).ingest_and_commit([CustomerRecord(
        instance="shopify.main", external_id="new-1", email="C0@example.com", source_updated_at=hub.now(),
        consent=[ConsentRecord(granted=True, recorded_at=hub.now())])])
    join_segment(hub, "champions", sorted(result.customer_ids))
    hub2 = email_hub(campaigns={"autumn": {"segment": "champions", "template": "spring"}})
    assert send_campaign(hub2, "autumn")["enrolment"]["ineligible"] == {"suppressed": 1}
