"""The HubSpot destination against the fake: lists, properties, batches, partial errors,
removals, dry runs and erasure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from crmhub.core.destinations import PushBatch, PushItem, PushResult
from crmhub.core.errors import ConfigError, PermanentRemoteError
from crmhub.core.hub import Hub
from crmhub.core.models import PushState, SegmentMember
from crmhub.core.privacy import erase_customer
from crmhub.plugins.hubspot.destination import HubSpotDestination
from crmhub.plugins.hubspot.fake import FakeHubSpot
from sqlalchemy import insert, select

from .conftest import INSTANCE, START, add_customers

WRITES = ("contacts.batch_upsert", "contacts.batch_update", "lists.memberships_add_and_remove", "lists.create")


def destination(hub: Hub) -> HubSpotDestination:
    found = hub.plugins.destination(hub, hub.instance(INSTANCE))
    assert isinstance(found, HubSpotDestination)
    return found


def member(customer_id: int, email: str, segments: list[str], **scores: object) -> dict[str, object]:
    """A customer as the segments engine describes it to ``attributes``."""
    return {"id": customer_id, "email": email, "first_name": "Ann", "last_name": None, "segments": segments,
            "rfm_segment": None, "clv": None, "churn_risk": None, **scores}


def add(dest: HubSpotDestination, customer_id: int, email: str, segments: list[str], **scores: object) -> PushItem:
    return PushItem(customer_id=customer_id, action="add", email=email,
                    attributes=dest.attributes(member(customer_id, email, segments, **scores)), first_name="Ann")


def writes(fake: FakeHubSpot) -> dict[str, int]:
    return {name: fake.counters[name] for name in WRITES if fake.counters[name]}


def list_of(fake: FakeHubSpot, segment: str) -> str:
    found = fake.lists.by_name("0-1", f"crmhub: {segment}")
    assert found is not None
    return str(found.list_id)


def test_attributes_are_the_routed_segments_and_the_configured_scores(hs_hub: Hub) -> None:
    dest = destination(hs_hub)
    attributes = dest.attributes(member(1, "a@x.io", ["vip", "local", "loyal"], rfm_segment="Champions",
                                        clv=Decimal("1234.5678"), churn_risk=0.123456))
    assert attributes == {"crmhub_segments": "loyal;vip", "crmhub_rfm_segment": "Champions",
                          "crmhub_clv": "1234.57", "crmhub_churn_risk": "0.12"}
    assert dest.required_consent == "email" and dest.batch_size == 100
    # a re-score that moves the CLV by a fraction of a cent changes nothing to push
    assert dest.attributes(member(1, "a@x.io", ["vip", "loyal"], clv=1234.5699, rfm_segment="Champions",
                                  churn_risk=0.12)) == attributes


def test_adding_members_upserts_by_email_and_fills_the_segments_list(hs_hub: Hub, fake: FakeHubSpot) -> None:
    dest = destination(hs_hub)
    batches = [[add(dest, n, f"m{n}@shop.example", ["vip"], clv=n) for n in range(start, min(start + 100, 250))]
               for start in range(0, 250, 100)]

    results = [dest.push(PushBatch(segment="vip", items=items)) for items in batches]

    confirmed = {cid: rid for r in results for cid, rid in r.confirmed.items()}
    assert len(confirmed) == 250 and not any(r.failed for r in results)
    assert writes(fake) == {"contacts.batch_upsert": 3, "lists.memberships_add_and_remove": 3, "lists.create": 1}
    assert fake.counters["lists.by_name"] == 1  # found once (missing), created, then cached
    listed = fake.lists.by_name("0-1", "crmhub: vip")
    assert listed is not None and listed.processing_type == "MANUAL"
    assert sorted(fake.list_members(listed.list_id)) == sorted(confirmed.values())
    contact = fake.contact(int(confirmed[7]))["properties"]
    assert (contact["email"], contact["crmhub_segments"], contact["crmhub_clv"], contact["firstname"]) == \
        ("m7@shop.example", "vip", "7", "Ann")


def test_a_partial_batch_error_fails_only_the_bad_records(hs_hub: Hub, fake: FakeHubSpot) -> None:
    dest = destination(hs_hub)
    fake.fail_email("bad@shop.example", "Email address is blocked")
    items = [add(dest, 1, "ok1@shop.example", ["vip"]), add(dest, 2, "bad@shop.example", ["vip"]),
             add(dest, 3, "ok3@shop.example", ["vip"])]

    result = dest.push(PushBatch(segment="vip", items=items))

    assert set(result.confirmed) == {1, 3} and "blocked" in result.failed[2]
    assert sorted(fake.list_members(list_of(fake, "vip"))) == sorted(result.confirmed.values())
    # the retry carries the failed record alone
    fake.failing_emails.clear()
    retry = dest.push(PushBatch(segment="vip", items=[items[1]]))
    assert set(retry.confirmed) == {2} and not retry.failed
    assert fake.counters["contacts.batch_upsert"] == 2


def test_changed_scores_update_the_contact_and_keep_its_membership(hs_hub: Hub, fake: FakeHubSpot) -> None:
    dest = destination(hs_hub)
    first = dest.push(PushBatch(segment="vip", items=[add(dest, 1, "s@shop.example", ["vip"], rfm_segment="Loyal")]))
    update = PushItem(customer_id=1, action="update", email="s@shop.example", remote_id=first.confirmed[1],
                      attributes=dest.attributes(member(1, "s@shop.example", ["vip"], rfm_segment="Champions")))
    result = dest.push(PushBatch(segment="vip", items=[update]))
    assert result.confirmed == first.confirmed
    assert fake.contact(int(first.confirmed[1]))["properties"]["crmhub_rfm_segment"] == "Champions"
    assert fake.list_members(list_of(fake, "vip")) == [first.confirmed[1]]


def test_leaving_a_segment_removes_the_contact_from_its_list_and_rewrites_the_property(
    hs_hub: Hub, fake: FakeHubSpot
) -> None:
    # Given a consenting customer in vip and loyal, pushed to both lists
    customer = add_customers(hs_hub, ["both@shop.example"])["both@shop.example"]
    with hs_hub.transaction() as session:
        session.execute(insert(SegmentMember.__table__), [
            {"segment": "vip", "customer_id": customer, "entered_at": START},
            {"segment": "loyal", "customer_id": customer, "entered_at": START}])
    dest = destination(hs_hub)
    item = add(dest, customer, "both@shop.example", ["vip", "loyal"], rfm_segment="Loyal")
    contact = dest.push(PushBatch(segment="vip", items=[item])).confirmed[customer]
    dest.push(PushBatch(segment="loyal", items=[item]))
    assert fake.contact(int(contact))["properties"]["crmhub_segments"] == "loyal;vip"
    # When they leave vip
    with hs_hub.transaction() as session:
        session.execute(SegmentMember.__table__.delete().where(SegmentMember.__table__.c.segment == "vip"))
    leave = PushItem(customer_id=customer, action="remove", email="both@shop.example", remote_id=contact)
    result = dest.push(PushBatch(segment="vip", items=[leave]))
    # Then they leave the vip list only, and the property says loyal
    assert result.confirmed == {customer: contact} and not result.failed
    assert fake.list_members(list_of(fake, "vip")) == [] and fake.list_members(list_of(fake, "loyal")) == [contact]
    props = fake.contact(int(contact))["properties"]
    assert (props["crmhub_segments"], props["crmhub_rfm_segment"]) == ("loyal", "Loyal")
    # And once they leave loyal too, no crmhub data remains on the contact
    with hs_hub.transaction() as session:
        session.execute(SegmentMember.__table__.delete())
    dest.push(PushBatch(segment="loyal", items=[PushItem(customer_id=customer, action="remove", email=None,
                                                         remote_id=contact)]))
    props = fake.contact(int(contact))["properties"]
    assert (props["crmhub_segments"], props["crmhub_rfm_segment"], props["crmhub_clv"]) == ("", "", "")
    assert fake.find_contact("both@shop.example") is not None  # the contact itself stays


def test_a_removal_hubspot_cannot_find_is_confirmed_without_calls(hs_hub: Hub, fake: FakeHubSpot) -> None:
    dest = destination(hs_hub)
    gone = PushItem(customer_id=9, action="remove", email="never@pushed.example")
    result = dest.push(PushBatch(segment="vip", items=[gone]))
    assert result.confirmed == {9: None}
    assert writes(fake) == {}


def test_a_removal_without_a_remote_id_finds_the_contact_by_email(hs_hub: Hub, fake: FakeHubSpot) -> None:
    dest = destination(hs_hub)
    contact = dest.push(PushBatch(segment="vip", items=[add(dest, 5, "Known@Shop.example", ["vip"])])).confirmed[5]
    leave = PushItem(customer_id=5, action="remove", email="known@shop.example")
    assert dest.push(PushBatch(segment="vip", items=[leave])).confirmed == {5: contact}
    assert fake.list_members(list_of(fake, "vip")) == []


def test_a_dry_run_calls_nothing(hs_hub: Hub, fake: FakeHubSpot) -> None:
    dest = destination(hs_hub)
    result = dest.push(PushBatch(segment="vip", items=[add(dest, 1, "d@shop.example", ["vip"])], dry_run=True))
    assert result == PushResult() and fake.counters.requests == 0


def test_an_existing_manual_list_is_reused_and_a_dynamic_one_refused(hs_hub: Hub, fake: FakeHubSpot) -> None:
    existing = fake.create_list("crmhub: vip")
    fake.create_list("crmhub: loyal", processing_type="DYNAMIC")
    dest = destination(hs_hub)
    dest.push(PushBatch(segment="vip", items=[add(dest, 1, "l@shop.example", ["vip"])]))
    assert fake.counters["lists.create"] == 0 and len(fake.list_members(existing["listId"])) == 1
    with pytest.raises(PermanentRemoteError, match="DYNAMIC"):
        dest.push(PushBatch(segment="loyal", items=[add(dest, 1, "l@shop.example", ["loyal"])]))


def test_429_with_rate_limit_headers_is_waited_out(make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot) -> None:
    """The account's window is spent by someone else: HubSpot answers 429 with
    ``X-HubSpot-RateLimit-Remaining: 0``; the push waits for the window and completes."""
    fake.window.limit = 4
    fake.interval_ms = 1000
    fake.window.interval = 1.0
    hub = make_hubspot_hub(segments={"vip": {"rule": "clv > 1", "destinations": [INSTANCE]}})
    dest = destination(hub)
    for _ in range(4):
        assert fake.window.take(fake.access_token)[0]
    results = [dest.push(PushBatch(segment="vip", items=[add(dest, n, f"r{n}@shop.example", ["vip"])]))
               for n in range(6)]
    assert all(len(r.confirmed) == 1 and not r.failed for r in results)
    assert fake.counters.throttled >= 1
    learned = dest.client.limiter.state()["general"]
    assert learned["limit"] == 4 and learned["window"] == 1.0


def test_an_erased_customer_is_deleted_from_hubspot(hs_hub: Hub, fake: FakeHubSpot) -> None:
    # Given a customer pushed to two lists, and one only known by the email pushed
    ids = add_customers(hs_hub, ["erase@shop.example", "old@shop.example"])
    customer, other = ids["erase@shop.example"], ids["old@shop.example"]
    dest = destination(hs_hub)
    contact = dest.push(PushBatch(segment="vip", items=[add(dest, customer, "erase@shop.example", ["vip"])]))
    dest.push(PushBatch(segment="loyal", items=[add(dest, customer, "erase@shop.example", ["loyal"])]))
    dest.push(PushBatch(segment="vip", items=[add(dest, other, "old@shop.example", ["vip"])]))
    remote = contact.confirmed[customer]
    with hs_hub.transaction() as session:
        session.execute(insert(PushState.__table__), [
            {"destination": INSTANCE, "segment": "vip", "customer_id": customer, "remote_id": remote,
             "remote_key": "erase@shop.example", "pushed_at": START},
            {"destination": INSTANCE, "segment": "loyal", "customer_id": customer, "remote_id": remote,
             "remote_key": "erase@shop.example", "pushed_at": START},
            {"destination": INSTANCE, "segment": "vip", "customer_id": other, "remote_id": None,
             "remote_key": "old@shop.example", "pushed_at": START}])
    # When both are erased and the erasure job tells the destinations
    for erased in (customer, other):
        with hs_hub.transaction() as session:
            _, told = erase_customer(session, erased, source="api", reason="GDPR", now=START)
        assert told == [INSTANCE]
        hs_hub.plugins.customer_erased(hs_hub, erased, told)
    # Then their contacts are gone from HubSpot and from every list, and crmhub forgot them
    assert fake.find_contact("erase@shop.example") is None and fake.find_contact("old@shop.example") is None
    assert fake.counters["contacts.gdpr_delete"] == 2
    assert fake.list_members(list_of(fake, "vip")) == [] and fake.list_members(list_of(fake, "loyal")) == []
    with hs_hub.transaction() as session:
        assert session.execute(select(PushState)).scalars().all() == []
    # and telling them again (a retried job) is harmless
    hs_hub.plugins.customer_erased(hs_hub, customer, [INSTANCE])


def test_score_properties_name_known_fields(make_hubspot_hub: Callable[..., Hub]) -> None:
    with pytest.raises(ConfigError, match=r"plugins\.hubspot\.main\.score_properties.*'clvv' is not a customer field"):
        make_hubspot_hub(score_properties={"clvv": "crmhub_clv"})
    with pytest.raises(ConfigError, match="lower-case"):
        make_hubspot_hub(score_properties={"clv": "CRMHub CLV"})
    hub = make_hubspot_hub(score_properties={"tags": "crmhub_tags", "last_order_at": "crmhub_last_order"})
    attributes = destination(hub).attributes(member(1, "a@x.io", [], tags=["a", "b"],
                                                    last_order_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)))
    assert attributes == {"crmhub_segments": "", "crmhub_tags": "a;b", "crmhub_last_order": "2025-01-02T03:04:05Z"}
