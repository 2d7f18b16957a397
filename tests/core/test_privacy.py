"""GDPR export and erasure inside the hub."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from crmhub.core.ingest import ingestor
from crmhub.core.models import (
    Consent,
    Customer,
    Interaction,
    Order,
    PrivacyRequest,
    PushState,
    SourceIdentity,
    WebhookEvent,
)
from crmhub.core.privacy import erase_customer, export_json
from crmhub.core.records import ConsentRecord, CustomerRecord, InteractionRecord, OrderRecord
from tests.conftest import T0


def _seed(hub):
    ingestor(hub).ingest_and_commit([
        CustomerRecord(instance="shopify.main", external_id="1", email="Erin@Example.com", first_name="Erin",
                       phone="+14155550123", source_updated_at=T0, consent=[ConsentRecord(granted=True)]),
        CustomerRecord(instance="hubspot.main", external_id="h1", email="erin@example.com", last_name="Ode",
                       source_updated_at=T0 + timedelta(days=1)),
        OrderRecord(instance="shopify.main", external_id="o1", customer_external_id="1", email="Erin@Example.com",
                    currency="USD", total=Decimal("25"), placed_at=T0, source_updated_at=T0),
        InteractionRecord(instance="email.main", external_id="e1", email="erin@example.com", kind="email_opened",
                          occurred_at=T0, data={"subject": "Hello Erin"}),
    ])
    with hub.transaction() as session:
        session.add(WebhookEvent(instance="shopify.main", delivery_id="d1", topic="customers/update",
                                 body=b'{"email": "Erin@Example.com"}', status="done"))
        session.add(WebhookEvent(instance="shopify.main", delivery_id="d2", topic="orders/create",
                                 body=b'{"email": "someone@else.com"}', status="done"))
        session.add(PushState(destination="hubspot.main", segment="vip", customer_id=1, remote_id="901"))


def test_export_contains_everything_and_is_audited(hub):
    _seed(hub)
    data = json.loads(export_json(hub, 1, source="api"))
    assert data["customer"]["email"] == "erin@example.com"
    assert {i["instance"] for i in data["identities"]} == {"shopify.main", "hubspot.main", "email.main"}
    assert data["orders"][0]["total"] == "25.0000"
    assert data["interactions"][0]["data"] == {"subject": "Hello Erin"}
    with hub.transaction() as session:
        [audit] = session.exec(select(PrivacyRequest)).scalars().all()
    assert (audit.kind, audit.customer_id, audit.source) == ("export", 1, "api")


def test_erasure_removes_personal_data_everywhere_and_keeps_an_audit_without_it(hub):
    _seed(hub)
    with hub.transaction() as session:
        request_id, destinations = erase_customer(session, 1, source="api", reason="customer asked", now=hub.now())
    assert destinations == ["hubspot.main"]
    with hub.transaction() as session:
        customer = session.get(Customer, 1)
        identities = session.exec(select(SourceIdentity)).scalars().all()
        order = session.exec(select(Order)).scalars().one()
        interaction = session.exec(select(Interaction)).scalars().one()
        consent = session.exec(select(Consent)).scalars().one()
        bodies = {e.delivery_id: e.body for e in session.exec(select(WebhookEvent)).scalars()}
        audit = session.get(PrivacyRequest, request_id)
    assert customer.status == "erased"
    assert (customer.email, customer.phone, customer.first_name, customer.last_name) == (None, None, None, None)
    assert all(i.erased and i.email is None and i.fields == {} for i in identities)
    assert order.email is None and order.total == Decimal("25")
    assert interaction.data == {}
    assert consent.granted is False
    assert bodies == {"d1": None, "d2": b'{"email": "someone@else.com"}'}
    assert "erin" not in json.dumps(audit.details).lower()
    assert audit.details["destinations"] == {"hubspot.main": "pending"}


def test_an_erased_customer_is_not_brought_back_by_a_resync(hub):
    _seed(hub)
    with hub.transaction() as session:
        erase_customer(session, 1, source="api", reason=None, now=hub.now())
    result = ingestor(hub).ingest_and_commit([
        CustomerRecord(instance="shopify.main", external_id="1", email="erin@example.com", first_name="Erin",
                       source_updated_at=T0 + timedelta(days=5)),
    ])
    assert result.skipped == 1
    with hub.transaction() as session:
        assert session.exec(select(Customer).where(Customer.email == "erin@example.com")).scalars().all() == []


def test_a_changed_order_of_an_erased_customer_updates_without_personal_data(hub):
    _seed(hub)
    with hub.transaction() as session:
        erase_customer(session, 1, source="api", reason=None, now=T0)

    result = ingestor(hub).ingest_and_commit([
        OrderRecord(instance="shopify.main", external_id="o1", customer_external_id="1", email="Erin@Example.com",
                    currency="USD", total=Decimal("25"), placed_at=T0, source_updated_at=T0 + timedelta(days=2),
                    status="refunded", attributes={"note": "call Erin"}),
    ])

    assert result.updated == 1
    with hub.transaction() as session:
        order = session.execute(select(Order).where(Order.external_id == "o1")).scalar_one()
        assert (order.status, order.email, order.attributes, order.customer_id) == ("refunded", None, {}, 1)


def test_export_records_extra_audit_details(hub):
    from crmhub.core.privacy import record_export

    _seed(hub)
    with hub.transaction() as session:
        record_export(session, 1, source="shopify.main", now=T0, details={"shopify_data_request_id": 9999})
        [audit] = session.exec(select(PrivacyRequest)).scalars().all()
    assert audit.details["shopify_data_request_id"] == 9999 and "orders" in audit.details["sections"]
