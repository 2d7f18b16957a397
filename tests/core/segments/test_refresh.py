"""Refresh: membership inside the database, entered/exited events, size history,
listeners, rule errors, removed segments and dependency order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crmhub.core.errors import NotFound
from crmhub.core.models import Segment, SegmentEvent, SegmentMember, SegmentSize
from crmhub.core.plugins import hookimpl
from crmhub.core.privacy import erase_customer
from crmhub.core.profiles import customer_profile
from crmhub.core.segments.refresh import refresh_segments
from tests.conftest import T0
from tests.core.segments.helpers import add_customer, set_tags


class Listener:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int], list[int]]] = []

    @hookimpl
    def crmhub_on_segment_changed(self, hub, segment, entered, exited):
        self.calls.append((segment, entered, exited))


@pytest.fixture
def listener():
    return Listener()


def _build(build_hub, clock, listener, segments):
    return build_hub(segments=segments, extra={"listener": listener})


@pytest.fixture
def vip_hub(build_hub, clock, listener):
    return _build(build_hub, clock, listener, {"vip": {"rule": 'tags contains "vip"', "description": "VIPs"}})


def rows(hub, model, **where):
    table = model.__table__
    with hub.transaction() as session:
        query = select(table)
        for key, value in where.items():
            query = query.where(table.c[key] == value)
        return session.execute(query).mappings().all()


def test_refresh_materialises_members_and_records_entries_with_their_time(vip_hub, clock, listener):
    # Given three customers, two tagged vip
    with vip_hub.transaction() as session:
        a = add_customer(session, "a@x.com", now=T0, tags=["vip"])
        b = add_customer(session, "b@x.com", now=T0, tags=["vip", "b2b"])
        add_customer(session, "c@x.com", now=T0, tags=[])
    # When the segments are refreshed
    [result] = refresh_segments(vip_hub)
    # Then the two are members since now, with an entered event each, and a size point
    assert (result.size, result.entered, result.exited, result.error) == (2, 2, 0, None)
    assert {r["customer_id"] for r in rows(vip_hub, SegmentMember, segment="vip")} == {a, b}
    events = rows(vip_hub, SegmentEvent, segment="vip")
    assert {(e["customer_id"], e["kind"], e["at"]) for e in events} == {(a, "entered", T0), (b, "entered", T0)}
    [segment] = rows(vip_hub, Segment)
    assert (segment["size"], segment["description"], segment["refreshed_at"]) == (2, "VIPs", T0)
    assert listener.calls == [("vip", sorted([a, b]), [])]


def test_successive_refreshes_record_only_differences(vip_hub, clock, listener):
    with vip_hub.transaction() as session:
        a = add_customer(session, "a@x.com", now=T0, tags=["vip"])
        b = add_customer(session, "b@x.com", now=T0, tags=["vip"])
        c = add_customer(session, "c@x.com", now=T0)
    refresh_segments(vip_hub)
    # Given b loses the tag and c gains it a day later
    clock.now = T0 + timedelta(days=1)
    with vip_hub.transaction() as session:
        set_tags(session, b, [])
        set_tags(session, c, ["vip"])
    # When refreshed twice
    [second] = refresh_segments(vip_hub)
    [third] = refresh_segments(vip_hub)
    # Then the second refresh records one entry and one exit, the third nothing
    assert (second.size, second.entered, second.exited) == (2, 1, 1)
    assert (third.size, third.entered, third.exited) == (2, 0, 0)
    later = [(e["customer_id"], e["kind"]) for e in rows(vip_hub, SegmentEvent) if e["at"] == clock.now]
    assert sorted(later) == sorted([(b, "exited"), (c, "entered")])
    members = {r["customer_id"]: r["entered_at"] for r in rows(vip_hub, SegmentMember)}
    assert members == {a: T0, c: clock.now}
    sizes = [(s["size"], s["entered"], s["exited"]) for s in rows(vip_hub, SegmentSize)]
    assert sizes == [(2, 2, 0), (2, 1, 1), (2, 0, 0)]
    assert listener.calls[1:] == [("vip", [c], []), ("vip", [], [b])]
    # And the events are on the customer's timeline
    with vip_hub.transaction() as session:
        timeline = customer_profile(session, b)["timeline"]
    assert [t["kind"] for t in timeline if t["kind"].startswith("segment_")] == ["segment_exited", "segment_entered"]


def test_erased_and_merged_customers_are_never_members(vip_hub):
    with vip_hub.transaction() as session:
        a = add_customer(session, "a@x.com", now=T0, tags=["vip"])
        add_customer(session, None, now=T0, tags=["vip"], status="erased")
        add_customer(session, "m@x.com", now=T0, tags=["vip"], status="merged")
    [result] = refresh_segments(vip_hub)
    assert result.size == 1
    with vip_hub.transaction() as session:
        erase_customer(session, a, source="api", reason=None, now=T0)
    [result] = refresh_segments(vip_hub)
    assert result.size == 0 and rows(vip_hub, SegmentMember) == []


def test_a_wrong_rule_reports_its_error_and_keeps_membership(build_hub, clock, listener):
    hub = _build(build_hub, clock, listener, {"vip": {"rule": 'tags contains "vip"'}})
    with hub.transaction() as session:
        add_customer(session, "a@x.com", now=T0, tags=["vip"])
    refresh_segments(hub)
    broken = _build(build_hub, clock, listener, {"vip": {"rule": 'tags contains "vip" and orders_count > "2"'}})
    [result] = refresh_segments(broken)
    assert result.error is not None and "line 1, column 40" in result.error
    assert len(rows(broken, SegmentMember)) == 1
    assert rows(broken, Segment)[0]["error"] == result.error


def test_a_segment_removed_from_config_exits_its_members_and_keeps_history(build_hub, clock, listener):
    hub = _build(build_hub, clock, listener, {"vip": {"rule": 'tags contains "vip"'}, "all": {"rule": "not consent.sms"}})
    with hub.transaction() as session:
        a = add_customer(session, "a@x.com", now=T0, tags=["vip"])
    refresh_segments(hub)
    clock.now = T0 + timedelta(hours=1)
    smaller = _build(build_hub, clock, listener, {"all": {"rule": "not consent.sms"}})
    results = refresh_segments(smaller)
    retired = [r for r in results if r.segment == "vip"]
    assert retired and retired[0].removed and retired[0].exited == 1
    assert rows(smaller, SegmentMember, segment="vip") == []
    assert rows(smaller, Segment, name="vip")[0]["removed_at"] == clock.now
    assert [(e["customer_id"], e["kind"]) for e in rows(smaller, SegmentEvent, segment="vip")] == [
        (a, "entered"), (a, "exited")]
    assert [s["size"] for s in rows(smaller, SegmentSize, segment="vip")] == [1, 0]
    # And a later refresh does not retire it again
    assert [r.segment for r in refresh_segments(smaller)] == ["all"]


def test_segments_that_read_other_segments_are_refreshed_after_them(build_hub, clock, listener):
    segments = {
        "vip_new": {"rule": 'entered("vip") within 1 day and in_segment("vip")'},
        "vip": {"rule": 'tags contains "vip"'},
    }
    hub = _build(build_hub, clock, listener, segments)
    with hub.transaction() as session:
        a = add_customer(session, "a@x.com", now=T0, tags=["vip"])
    results = refresh_segments(hub)
    assert [r.segment for r in results] == ["vip", "vip_new"]
    assert {r["customer_id"] for r in rows(hub, SegmentMember, segment="vip_new")} == {a}


def test_cycles_between_segments_are_rule_errors(build_hub, clock, listener):
    hub = _build(build_hub, clock, listener, {"a": {"rule": 'in_segment("b")'}, "b": {"rule": 'not in_segment("a")'}})
    results = refresh_segments(hub)
    assert all(r.error and "cycle" in r.error for r in results)


def test_unknown_names_are_refused(vip_hub):
    with pytest.raises(NotFound):
        refresh_segments(vip_hub, ["nope"])
