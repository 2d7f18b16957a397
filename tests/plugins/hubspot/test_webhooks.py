"""HubSpot webhooks as the fake sends them: verification, delivery ids, contact events."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crmhub.core.errors import WebhookMalformed, WebhookRejected
from crmhub.core.hub import Hub
from crmhub.core.ingest import ingestor
from crmhub.core.models import Customer, Job, MergeRecord, SourceIdentity, WebhookEvent
from crmhub.core.testing.receiver import RecordingReceiver
from crmhub.core.webhooks import WebhookDelivery, WebhookRequest
from crmhub.plugins.hubspot.fake import FakeHubSpot
from sqlalchemy import select

from .conftest import INSTANCE, add_customers, run_sync

PATH = "/webhooks/hubspot/main"


@pytest.fixture
def receiver(webhook_receiver: tuple[RecordingReceiver, str]) -> tuple[RecordingReceiver, str]:
    return webhook_receiver


def as_received(receiver: RecordingReceiver, public_url: str) -> WebhookRequest:
    """The last request the receiver got, as the hub's intake hands it over: the URL is the
    hub's public URL + path + query."""
    got = receiver.requests[-1]
    url = public_url + got.path + (f"?{got.query}" if got.query else "")
    return WebhookRequest(method=got.method, url=url, headers=got.headers, body=got.body,
                          received_at=datetime.now(UTC))


def verify(hub: Hub, request: WebhookRequest) -> WebhookDelivery | None:
    return hub.plugins.webhook_verify(hub, hub.instance(INSTANCE), request)


def process(hub: Hub, events: list[dict[str, Any]]) -> list[Any]:
    """Store a delivery and process it as the webhook worker does: the plugin's records are
    ingested in the transaction that loaded the event."""
    with hub.transaction() as session:
        event = WebhookEvent(instance=INSTANCE, delivery_id=f"t-{id(events)}", topic="contact",
                             body=json.dumps(events).encode())
        session.add(event)
        session.flush()
        event_id = event.id
    with hub.transaction() as session:
        stored = session.get(WebhookEvent, event_id)
        records = hub.plugins.webhook_process(hub, hub.instance(INSTANCE), stored)
        result = ingestor(hub).ingest(session, list(records), source=INSTANCE)
    ingestor(hub).notify(result)
    return list(records)


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_deliveries_signed_by_hubspot_are_accepted(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot, receiver: tuple[RecordingReceiver, str], version: str
) -> None:
    recorder, base = receiver
    hub = make_hubspot_hub(public_url=base)
    events = [fake.event("contact.creation", 501), fake.event("contact.propertyChange", 502,
                                                                 property_name="email", property_value="a@b.co")]
    fake.deliver(base + PATH, events, version=version)
    delivery = verify(hub, as_received(recorder, base))
    assert delivery is not None and delivery.store
    assert delivery.delivery_id.startswith("events:2:")
    assert delivery.topic == "contact.creation,contact.propertyChange"
    assert delivery.occurred_at == datetime.fromtimestamp(events[0]["occurredAt"] / 1000, tz=UTC)


@pytest.mark.parametrize("how", ["wrong secret", "tampered body", "stale v3", "other url v2", "unsigned"])
def test_forged_or_stale_deliveries_are_rejected(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot, receiver: tuple[RecordingReceiver, str], how: str
) -> None:
    recorder, base = receiver
    hub = make_hubspot_hub(public_url=base)
    events = [fake.event("contact.deletion", 7)]
    if how == "wrong secret":
        fake.deliver(base + PATH, events, client_secret="not-the-app-secret")
    elif how == "stale v3":
        old = int((datetime.now(UTC) - timedelta(minutes=5, seconds=1)).timestamp() * 1000)
        fake.deliver(base + PATH, events, timestamp=old)
    elif how == "other url v2":
        fake.deliver(base + "/somewhere/else", events, version="v2")
    else:
        fake.deliver(base + PATH, events)
    request = as_received(recorder, base)
    if how == "tampered body":
        request = WebhookRequest(request.method, request.url, request.headers,
                                 request.body.replace(b'"objectId":7', b'"objectId":8'), request.received_at)
    if how == "other url v2":
        request = WebhookRequest(request.method, base + PATH, request.headers, request.body, request.received_at)
    if how == "unsigned":
        request = WebhookRequest(request.method, request.url, {"content-type": "application/json"},
                                 request.body, request.received_at)
    with pytest.raises(WebhookRejected):
        verify(hub, request)


def test_behind_a_proxy_the_configured_public_url_is_what_was_signed(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot, receiver: tuple[RecordingReceiver, str]
) -> None:
    """HubSpot posts to https://crm.shop/hooks/hubspot?src=hs; the proxy forwards it to the
    hub, whose own public URL (and path) differ."""
    recorder, base = receiver
    target = base + "/hooks/hubspot?src=hs&v=3"
    fake.deliver(target, [fake.event("contact.creation", 11)])
    hub_url = "https://hub.internal.example.com"
    forwarded = WebhookRequest("POST", hub_url + PATH, recorder.requests[-1].headers, recorder.requests[-1].body,
                               datetime.now(UTC))
    with pytest.raises(WebhookRejected):
        verify(make_hubspot_hub(public_url=hub_url), forwarded)
    delivery = verify(make_hubspot_hub(public_url=hub_url, webhook_public_url=target), forwarded)
    assert delivery is not None and delivery.delivery_id.startswith("event:")


def test_delivery_ids_dedupe_by_event_ids(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot, receiver: tuple[RecordingReceiver, str]
) -> None:
    recorder, base = receiver
    hub = make_hubspot_hub(public_url=base)
    first = [fake.event("contact.creation", 1), fake.event("contact.creation", 2)]
    retry = [{**e, "attemptNumber": 1} for e in reversed(first)]
    ids = []
    for events in (first, retry, [first[0]], [fake.event("contact.creation", 1)]):
        fake.deliver(base + PATH, events)
        delivery = verify(hub, as_received(recorder, base))
        assert delivery is not None
        ids.append(delivery.delivery_id)
    assert ids[0] == ids[1]  # HubSpot's retry of the same events: stored and processed once
    assert ids[2] == f"event:{first[0]['eventId']}"
    assert len(set(ids)) == 3


@pytest.mark.parametrize("body", [b"not json", b'{"eventId": 1}', b'[{"objectId": 1}]'])
def test_a_signed_body_that_is_not_an_event_array_is_malformed(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot, receiver: tuple[RecordingReceiver, str], body: bytes
) -> None:
    recorder, base = receiver
    hub = make_hubspot_hub(public_url=base)
    fake.deliver(base + PATH, body)
    with pytest.raises(WebhookMalformed):
        verify(hub, as_received(recorder, base))


def test_an_empty_delivery_is_answered_and_not_stored(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot, receiver: tuple[RecordingReceiver, str]
) -> None:
    recorder, base = receiver
    hub = make_hubspot_hub(public_url=base)
    fake.deliver(base + PATH, [])
    delivery = verify(hub, as_received(recorder, base))
    assert delivery is not None and not delivery.store


def test_created_changed_and_deleted_contacts(make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot) -> None:
    hub = make_hubspot_hub()
    ann = fake.add_contact({"email": "Ann@Example.com", "firstname": "Ann", "lifecyclestage": "lead"})
    bob = fake.add_contact({"email": "bob@example.com", "hs_email_optout": "true"})
    records = process(hub, [fake.event("contact.creation", ann["id"]),
                            fake.event("contact.propertyChange", bob["id"], property_name="hs_email_optout",
                                       property_value="true")])
    assert {r.email for r in records} == {"Ann@Example.com", "bob@example.com"}
    with hub.transaction() as session:
        customers = {c.email: c for c in session.execute(select(Customer)).scalars()}
    assert customers["ann@example.com"].attributes == {"lifecycle_stage": "lead"}

    fake.archive_contact(int(ann["id"]))
    process(hub, [fake.event("contact.deletion", ann["id"])])
    with hub.transaction() as session:
        identity = session.execute(select(SourceIdentity).where(
            SourceIdentity.instance == INSTANCE, SourceIdentity.external_id == ann["id"])).scalar_one()
    assert identity.deleted_at is not None


def test_a_merge_in_hubspot_merges_the_canonical_customers(
    make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot
) -> None:
    # Given a shopper known to the shop, and two HubSpot contacts for the same person
    hub = make_hubspot_hub()
    shop = add_customers(hub, ["jo@shop.example"])["jo@shop.example"]
    primary = fake.add_contact({"email": "jo.work@corp.example", "firstname": "Jo"})
    other = fake.add_contact({"email": "jo@shop.example"})
    run_sync(hub, full=True)
    with hub.transaction() as session:
        owners = dict(session.execute(select(SourceIdentity.external_id, SourceIdentity.customer_id)
                                      .where(SourceIdentity.instance == INSTANCE)).all())
    assert owners[other["id"]] == shop and owners[primary["id"]] != shop
    # When HubSpot merges them and says so
    fake.merge(int(primary["id"]), int(other["id"]))
    process(hub, [fake.event("contact.merge", primary["id"], primary_object_id=int(primary["id"]),
                             merged_object_ids=[int(other["id"])])])
    # Then the hub holds one customer with both identities, and the merge is recorded
    with hub.transaction() as session:
        identities = session.execute(select(SourceIdentity).where(SourceIdentity.instance == INSTANCE)).scalars().all()
        ledger = session.execute(select(MergeRecord)).scalars().all()
        survivor = session.get(Customer, shop)
    assert {i.customer_id for i in identities} == {shop}
    assert {i.external_id: i.deleted_at is not None for i in identities} == {primary["id"]: False, other["id"]: True}
    assert [(m.survivor_id, m.reason, m.matched_on) for m in ledger] == [(shop, "HubSpot merge", "source-merge")]
    assert survivor is not None and survivor.status == "active"
    # And a redelivery changes nothing
    process(hub, [fake.event("contact.merge", primary["id"], primary_object_id=int(primary["id"]),
                             merged_object_ids=[int(other["id"])])])
    with hub.transaction() as session:
        assert len(session.execute(select(MergeRecord)).scalars().all()) == 1


def test_a_gdpr_delete_in_hubspot_erases_the_customer(make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot) -> None:
    hub = make_hubspot_hub()
    contact = fake.add_contact({"email": "gone@example.com", "firstname": "Gone"})
    run_sync(hub, full=True)
    process(hub, [fake.event("contact.privacyDeletion", contact["id"])])
    with hub.transaction() as session:
        customer = session.execute(select(Customer)).scalar_one()
        jobs = session.execute(select(Job.actor, Job.args)).all()
    assert customer.status == "erased" and customer.email is None
    assert [actor for actor, _ in jobs] == ["erasure"]
    # a redelivered event erases nothing more and queues no second propagation
    process(hub, [fake.event("contact.privacyDeletion", contact["id"])])
    with hub.transaction() as session:
        assert len(session.execute(select(Job)).scalars().all()) == 1
        assert session.execute(select(Customer)).scalar_one().status == "erased"


def test_events_of_other_portals_are_ignored(make_hubspot_hub: Callable[..., Hub], fake: FakeHubSpot) -> None:
    contact = fake.add_contact({"email": "x@example.com"})
    foreign = make_hubspot_hub(portal_ids=[999])
    assert process(foreign, [fake.event("contact.creation", contact["id"])]) == []
    ours = make_hubspot_hub(portal_ids=[fake.portal_id])
    assert [r.email for r in process(ours, [fake.event("contact.creation", contact["id"])])] == ["x@example.com"]
