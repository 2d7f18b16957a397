"""The query helpers the segments API exposes: list, summary, size history, members."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crmhub.core.errors import InputError, NotFound
from crmhub.core.segments.query import list_segments, members, segment_summary, size_history
from crmhub.core.segments.refresh import refresh_segments
from tests.conftest import T0
from tests.core.segments.helpers import add_customer, set_tags


@pytest.fixture
def hub(build_hub):
    return build_hub(segments={"vip": {"rule": 'tags contains "vip"', "description": "VIPs"}})


def test_members_are_paginated_with_a_cursor(hub):
    with hub.transaction() as session:
        ids = [add_customer(session, f"c{i}@x.com", now=T0, tags=["vip"], tier="core") for i in range(7)]
    refresh_segments(hub)
    seen, cursor = [], None
    with hub.transaction() as session:
        while True:
            page = members(session, "vip", limit=3, cursor=cursor)
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        first = members(session, "vip", limit=1)["items"][0]
    assert seen == ids
    assert (first["email"], first["tier"], first["entered_at"], first["orders_count"]) == ("c0@x.com", "core", T0, 0)


def test_size_history_lists_every_refresh_oldest_first(hub, clock):
    with hub.transaction() as session:
        a = add_customer(session, "a@x.com", now=T0, tags=["vip"])
    refresh_segments(hub)
    clock.now = T0 + timedelta(days=1)
    with hub.transaction() as session:
        set_tags(session, a, [])
    refresh_segments(hub)
    with hub.transaction() as session:
        history = size_history(session, "vip")
        [listed] = list_segments(session)
        summary = segment_summary(session, "vip")
    assert [(h["at"], h["size"], h["entered"], h["exited"]) for h in history] == [
        (T0, 1, 1, 0), (clock.now, 0, 0, 1)]
    assert (listed["name"], listed["size"], listed["description"]) == ("vip", 0, "VIPs")
    assert summary["last_refresh"] == {"at": clock.now, "entered": 0, "exited": 1}


def test_unknown_segments_and_bad_cursors_are_refused(hub):
    refresh_segments(hub)
    with hub.transaction() as session:
        with pytest.raises(NotFound):
            members(session, "nope")
        with pytest.raises(NotFound):
            size_history(session, "nope")
        with pytest.raises(InputError):
            members(session, "vip", cursor="not-a-cursor")
