"""Push: each destination gets only its difference, confirmations are per customer,
failures are retried alone, consent and erasure remove customers, dry runs call nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crmhub.core.errors import NotFound
from crmhub.core.models import PushRun, PushState
from crmhub.core.privacy import erase_customer
from crmhub.core.segments.push import push_segments
from crmhub.core.segments.query import push_history, segment_summary
from crmhub.core.segments.refresh import refresh_segments
from tests.conftest import T0
from tests.core.segments.helpers import DestinationPlugin, RecordingDestination, add_customer, set_consent, set_tags, set_tier

SEGMENTS = {"vip": {"rule": 'tags contains "vip"', "destinations": ["testdest.main"]}}


@pytest.fixture
def destination():
    return RecordingDestination()


@pytest.fixture
def hub(build_hub, destination):
    return build_hub(segments=SEGMENTS, instances={"testdest": {"main": {}}},
                     extra={"testdest": DestinationPlugin(destination)})


def vip_customers(hub, count, **kwargs):
    with hub.transaction() as session:
        return [add_customer(session, f"c{i}@x.com", now=T0, tags=["vip"], tier="core", **kwargs) for i in range(count)]


def states(hub):
    table = PushState.__table__
    with hub.transaction() as session:
        return {row.customer_id: row for row in session.execute(select(table))}


def actions(destination, start=0):
    return sorted((item.action, item.customer_id) for batch in destination.batches[start:] for item in batch.items)


def test_first_push_adds_every_consenting_member_in_batches(hub, destination):
    ids = vip_customers(hub, 7)
    with hub.transaction() as session:
        no_consent = add_customer(session, "n@x.com", now=T0, tags=["vip"], consent=False)
        no_email = add_customer(session, None, now=T0, tags=["vip"])
    refresh_segments(hub)
    [report] = push_segments(hub)
    assert (report.added, report.removed, report.changed, report.failed, report.status) == (7, 0, 0, 0, "succeeded")
    assert [len(b.items) for b in destination.batches] == [3, 3, 1]
    assert all(b.segment == "vip" for b in destination.batches)
    assert actions(destination) == [("add", i) for i in ids]
    assert no_consent not in states(hub) and no_email not in states(hub)
    assert {cid: s.remote_id for cid, s in states(hub).items()} == {i: f"remote-{i}" for i in ids}
    assert states(hub)[ids[0]].remote_key == "c0@x.com"
    [item] = [i for i in destination.items if i.customer_id == ids[0]]
    assert item.attributes == {"segments": ["vip"], "tier": "core"} and item.email == "c0@x.com"


def test_a_second_push_without_changes_calls_nothing(hub, destination):
    vip_customers(hub, 4)
    refresh_segments(hub)
    push_segments(hub)
    calls = len(destination.batches)
    [report] = push_segments(hub)
    assert len(destination.batches) == calls
    assert (report.added, report.removed, report.changed, report.status) == (0, 0, 0, "unchanged")


def test_successive_refreshes_and_pushes_send_adds_removes_and_changes(hub, destination, clock):
    a, b, c = vip_customers(hub, 3)
    with hub.transaction() as session:
        d = add_customer(session, "d@x.com", now=T0, tier="core")
    refresh_segments(hub)
    push_segments(hub)
    # Given b leaves, d joins and c's tier changes
    clock.now = T0 + timedelta(days=1)
    with hub.transaction() as session:
        set_tags(session, b, [])
        set_tags(session, d, ["vip"])
        set_tier(session, c, "potential")
    refresh_segments(hub)
    start = len(destination.batches)
    [report] = push_segments(hub)
    # Then exactly those three changes are pushed
    assert actions(destination, start) == sorted([("remove", b), ("add", d), ("update", c)])
    assert (report.added, report.removed, report.changed) == (1, 1, 1)
    [removal] = [i for i in destination.items[-3:] if i.action == "remove"]
    assert (removal.email, removal.remote_id) == ("c1@x.com", f"remote-{b}")
    assert set(states(hub)) == {a, c, d}


def test_failed_customers_are_retried_alone(hub, destination):
    ids = vip_customers(hub, 5)
    refresh_segments(hub)
    destination.fail = {ids[1], ids[3]}
    [first] = push_segments(hub)
    assert (first.added, first.failed, first.status) == (3, 2, "partial")
    assert {e["customer_id"] for e in first.errors} == {ids[1], ids[3]}
    assert all(e["error"] == "contact rejected" for e in first.errors)
    assert set(states(hub)) == {ids[0], ids[2], ids[4]}
    # When the destination accepts them again, only they are sent
    destination.fail = set()
    start = len(destination.batches)
    [second] = push_segments(hub)
    assert actions(destination, start) == [("add", ids[1]), ("add", ids[3])]
    assert (second.added, second.failed, second.status) == (2, 0, "succeeded")
    with hub.transaction() as session:
        history = push_history(session, "vip", destination="testdest.main")["items"]
    assert [(r["status"], r["added"], r["failed"]) for r in history] == [("succeeded", 2, 0), ("partial", 3, 2)]


def test_a_destination_that_raises_keeps_everything_for_the_next_push(hub, destination):
    ids = vip_customers(hub, 5)
    refresh_segments(hub)
    destination.down = True
    [report] = push_segments(hub)
    assert (report.status, report.failed, len(destination.batches)) == ("failed", 3, 1)
    assert "503" in report.errors[0]["error"] and states(hub) == {}
    destination.down = False
    [report] = push_segments(hub)
    assert report.added == 5 and set(states(hub)) == set(ids)


def test_withdrawn_consent_removes_the_customer(hub, destination):
    a, b = vip_customers(hub, 2)
    refresh_segments(hub)
    push_segments(hub)
    with hub.transaction() as session:
        set_consent(session, a, False, now=T0)
    start = len(destination.batches)
    [report] = push_segments(hub)  # no refresh needed: consent is checked at push time
    assert actions(destination, start) == [("remove", a)]
    assert report.removed == 1 and set(states(hub)) == {b}


def test_erased_customers_are_removed_by_remote_id_without_personal_data(hub, destination):
    a, b = vip_customers(hub, 2)
    refresh_segments(hub)
    push_segments(hub)
    with hub.transaction() as session:
        erase_customer(session, a, source="api", reason="GDPR", now=T0)
    start = len(destination.batches)
    [report] = push_segments(hub)
    [item] = [i for batch in destination.batches[start:] for i in batch.items]
    assert (item.action, item.customer_id, item.remote_id, item.email) == ("remove", a, f"remote-{a}", None)
    assert report.removed == 1 and set(states(hub)) == {b}
    # And an erased customer is never pushed again
    refresh_segments(hub)
    assert push_segments(hub)[0].status == "unchanged"


def test_dry_run_prints_the_plan_and_calls_nothing(hub, destination):
    ids = vip_customers(hub, 4)
    refresh_segments(hub)
    [plan] = push_segments(hub, dry_run=True)
    assert (plan.added, plan.removed, plan.changed, plan.status, plan.dry_run) == (4, 0, 0, "dry_run", True)
    assert [s["customer_id"] for s in plan.sample["add"]] == ids
    assert destination.batches == [] and states(hub) == {}
    with hub.transaction() as session:
        assert session.execute(select(PushRun.__table__)).all() == []


def test_a_destination_removed_from_the_segment_gets_its_members_removed(build_hub, destination):
    extra = {"testdest": DestinationPlugin(destination)}
    instances = {"testdest": {"main": {}}}
    hub = build_hub(segments=SEGMENTS, instances=instances, extra=extra)
    ids = vip_customers(hub, 2)
    refresh_segments(hub)
    push_segments(hub)
    later = build_hub(segments={"vip": {"rule": 'tags contains "vip"'}}, instances=instances, extra=extra)
    [report] = push_segments(later)
    assert report.removed == 2 and states(later) == {}
    assert actions(destination, 1) == [("remove", i) for i in ids]


def test_push_history_and_summary_show_counts_per_destination(hub, destination):
    vip_customers(hub, 2)
    refresh_segments(hub)
    push_segments(hub)
    with hub.transaction() as session:
        summary = segment_summary(session, "vip")
    assert summary["size"] == 2 and summary["last_refresh"]["entered"] == 2
    [entry] = summary["push"]
    assert (entry["destination"], entry["confirmed"], entry["last_push"]["added"]) == ("testdest.main", 2, 2)


def test_unknown_destinations_and_segments_are_refused(hub):
    with pytest.raises(NotFound):
        push_segments(hub, destinations=["nope.main"])
    with pytest.raises(NotFound):
        push_segments(hub, segments=["nope"])
