"""End to end: segments refreshed and pushed to the fake HubSpot through the segments engine."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from crmhub.core.hub import Hub
from crmhub.core.models import Consent, Customer, CustomerScore, PushState
from crmhub.core.privacy import erase_customer
from crmhub.core.segments import push_segments, refresh_segments
from crmhub.plugins.hubspot.fake import FakeHubSpot
from sqlalchemy import insert, select, update

from .conftest import INSTANCE, START

SEGMENTS = {
    "vip": {"rule": 'tags contains "vip"', "destinations": [INSTANCE]},
    "loyal": {"rule": 'tags contains "loyal"', "destinations": [INSTANCE]},
    "internal": {"rule": 'tags contains "vip"', "destinations": []},
}
WRITES = ("contacts.batch_upsert", "contacts.batch_update", "contacts.gdpr_delete",
          "lists.memberships_add_and_remove", "lists.create")


@pytest.fixture
def hub(make_hubspot_hub: Callable[..., Hub]) -> Hub:
    return make_hubspot_hub(segments=SEGMENTS)


def customer(hub: Hub, email: str, tags: list[str], *, consent: bool | None = True,
             rfm: str | None = None, clv: str | None = None) -> int:
    with hub.transaction() as session:
        customer_id = int(session.execute(insert(Customer.__table__).returning(Customer.__table__.c.id), {
            "status": "active", "email": email, "first_name": email.split("@")[0].title(), "tags": tags,
            "addresses": [], "attributes": {}, "field_sources": {}, "created_at": START, "updated_at": START,
        }).scalar_one())
        if consent is not None:
            session.execute(insert(Consent.__table__), {"customer_id": customer_id, "channel": "email",
                                                        "granted": consent, "source": "test", "recorded_at": START})
        if rfm or clv:
            session.execute(insert(CustomerScore.__table__), {
                "customer_id": customer_id, "scored_at": START, "rfm_segment": rfm,
                "clv": Decimal(clv) if clv else None, "inputs": {}, "explanation": {}})
    return customer_id


def set_tags(hub: Hub, customer_id: int, tags: list[str]) -> None:
    with hub.transaction() as session:
        session.execute(update(Customer.__table__).where(Customer.__table__.c.id == customer_id).values(tags=tags))


def writes(fake: FakeHubSpot) -> dict[str, int]:
    return {name: fake.counters[name] for name in WRITES if fake.counters[name]}


def refresh_and_push(hub: Hub, **options: object) -> dict[str, tuple[int, int, int, int, str]]:
    refresh_segments(hub)
    return {r.segment: (r.added, r.removed, r.changed, r.failed, r.status) for r in push_segments(hub, **options)}


def members(fake: FakeHubSpot, segment: str) -> set[str]:
    found = fake.lists.by_name("0-1", f"crmhub: {segment}")
    return {str(i) for i in found.members} if found is not None else set()


def emails_in(fake: FakeHubSpot, segment: str) -> set[str]:
    return {fake.contact(int(i))["properties"]["email"] for i in members(fake, segment)}


def props(fake: FakeHubSpot, email: str) -> dict[str, str | None]:
    found = fake.find_contact(email)
    assert found is not None
    contact = fake.contact(int(found["id"]))["properties"]
    return {k: contact.get(k) for k in ("crmhub_segments", "crmhub_rfm_segment", "crmhub_clv")}


def test_segments_become_lists_and_properties_and_only_differences_are_pushed(hub: Hub, fake: FakeHubSpot) -> None:
    # Given consenting members, one without consent and one without any consent record
    ann = customer(hub, "ann@shop.example", ["vip", "loyal"], rfm="Champions", clv="812.499")
    customer(hub, "bob@shop.example", ["vip"], rfm="Loyal")
    customer(hub, "cyd@shop.example", ["loyal"])
    customer(hub, "no@shop.example", ["vip"], consent=False)
    customer(hub, "unknown@shop.example", ["vip"], consent=None)

    # When the segments are pushed
    reports = refresh_and_push(hub)

    # Then HubSpot holds a list per routed segment with the consenting members, and their properties
    assert reports == {"vip": (2, 0, 0, 0, "succeeded"), "loyal": (2, 0, 0, 0, "succeeded")}
    assert emails_in(fake, "vip") == {"ann@shop.example", "bob@shop.example"}
    assert emails_in(fake, "loyal") == {"ann@shop.example", "cyd@shop.example"}
    assert fake.lists.by_name("0-1", "crmhub: internal") is None
    assert fake.find_contact("no@shop.example") is None and fake.find_contact("unknown@shop.example") is None
    assert props(fake, "ann@shop.example") == {"crmhub_segments": "loyal;vip", "crmhub_rfm_segment": "Champions",
                                               "crmhub_clv": "812.50"}
    assert writes(fake) == {"contacts.batch_upsert": 2, "lists.memberships_add_and_remove": 2, "lists.create": 2}
    with hub.transaction() as session:
        remote = {row.segment: row.remote_id for row in session.execute(
            select(PushState).where(PushState.customer_id == ann)).scalars()}
    assert remote == {"vip": fake.find_contact("ann@shop.example")["id"]} | {"loyal": remote["vip"]}

    # And a second push with no change makes no write call at all
    before = fake.counters.snapshot()["by_endpoint"]
    assert refresh_and_push(hub) == {"vip": (0, 0, 0, 0, "unchanged"), "loyal": (0, 0, 0, 0, "unchanged")}
    assert fake.counters.snapshot()["by_endpoint"] == before


def test_entering_leaving_and_rescoring_push_adds_removes_and_changes(hub: Hub, fake: FakeHubSpot) -> None:
    ann = customer(hub, "ann@shop.example", ["vip"], rfm="Loyal")
    bob = customer(hub, "bob@shop.example", ["vip", "loyal"])
    refresh_and_push(hub)
    # ann joins loyal, bob leaves vip, cyd is new
    set_tags(hub, ann, ["vip", "loyal"])
    set_tags(hub, bob, ["loyal"])
    customer(hub, "cyd@shop.example", ["vip"])

    calls = fake.counters.requests
    dry = refresh_and_push(hub, dry_run=True)
    assert fake.counters.requests == calls
    reports = refresh_and_push(hub)

    assert dry == {"vip": (1, 1, 1, 0, "dry_run"), "loyal": (1, 0, 1, 0, "dry_run")}
    assert reports == {"vip": (1, 1, 1, 0, "succeeded"), "loyal": (1, 0, 1, 0, "succeeded")}
    assert emails_in(fake, "vip") == {"ann@shop.example", "cyd@shop.example"}
    assert emails_in(fake, "loyal") == {"ann@shop.example", "bob@shop.example"}
    assert props(fake, "ann@shop.example")["crmhub_segments"] == "loyal;vip"
    assert props(fake, "bob@shop.example")["crmhub_segments"] == "loyal"


def test_a_dry_run_prints_the_plan_and_calls_nothing(hub: Hub, fake: FakeHubSpot) -> None:
    customer(hub, "ann@shop.example", ["vip"])
    refresh_segments(hub)
    [vip, loyal] = sorted(push_segments(hub, dry_run=True), key=lambda r: r.segment, reverse=True)
    assert (vip.added, vip.status, vip.sample["add"][0]["email"]) == (1, "dry_run", "ann@shop.example")
    assert (loyal.added, loyal.status) == (0, "dry_run")
    assert fake.counters.requests == 0


def test_a_rejected_contact_is_retried_alone(hub: Hub, fake: FakeHubSpot) -> None:
    for n in range(5):
        customer(hub, f"c{n}@shop.example", ["vip"])
    fake.fail_email("c3@shop.example", "Email address is invalid")
    assert refresh_and_push(hub)["vip"] == (4, 0, 0, 1, "partial")
    assert "c3@shop.example" not in emails_in(fake, "vip")
    fake.failing_emails.clear()
    assert refresh_and_push(hub)["vip"] == (1, 0, 0, 0, "succeeded")
    assert len(emails_in(fake, "vip")) == 5


def test_withdrawn_consent_removes_the_contact_from_lists_and_clears_crmhub_data(hub: Hub, fake: FakeHubSpot) -> None:
    ann = customer(hub, "ann@shop.example", ["vip", "loyal"], rfm="Champions", clv="10")
    refresh_and_push(hub)
    with hub.transaction() as session:
        session.execute(update(Consent.__table__).where(Consent.__table__.c.customer_id == ann).values(granted=False))
    assert refresh_and_push(hub) == {"vip": (0, 1, 0, 0, "succeeded"), "loyal": (0, 1, 0, 0, "succeeded")}
    assert members(fake, "vip") == members(fake, "loyal") == set()
    assert props(fake, "ann@shop.example") == {"crmhub_segments": "", "crmhub_rfm_segment": "", "crmhub_clv": ""}


def test_an_erased_customer_is_deleted_from_hubspot_and_never_pushed_again(hub: Hub, fake: FakeHubSpot) -> None:
    ann = customer(hub, "ann@shop.example", ["vip", "loyal"])
    customer(hub, "bob@shop.example", ["vip"])
    refresh_and_push(hub)
    with hub.transaction() as session:
        _, destinations = erase_customer(session, ann, source="api", reason="GDPR", now=START)
    hub.plugins.customer_erased(hub, ann, destinations)
    assert fake.find_contact("ann@shop.example") is None
    assert emails_in(fake, "vip") == {"bob@shop.example"}
    before = writes(fake)
    assert refresh_and_push(hub) == {"vip": (0, 0, 0, 0, "unchanged"), "loyal": (0, 0, 0, 0, "unchanged")}
    assert writes(fake) == before
