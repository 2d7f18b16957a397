"""Merges caused by new facts, the ledger, unmerge, and merge blocks."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from crmhub.core.identity.merge import unmerge
from crmhub.core.ingest import ingestor
from crmhub.core.models import Consent, Customer, CustomerStats, Interaction, MergeRecord, Order, SourceIdentity
from crmhub.core.records import ConsentRecord, CustomerRecord, InteractionRecord, OrderRecord
from tests.conftest import T0


def _customer(instance, external_id, at=T0, **fields):
    return CustomerRecord(instance=instance, external_id=external_id, source_updated_at=at, **fields)


def _order(instance, external_id, customer_external_id, total="10"):
    return OrderRecord(instance=instance, external_id=external_id, customer_external_id=customer_external_id,
                       currency="USD", total=Decimal(total), placed_at=T0, source_updated_at=T0)


def _two_customers_then_linked(hub):
    """Given a shop customer and a CRM contact with no common fact, when the CRM contact's
    email changes to the shop customer's, then the two are merged."""
    ingest = ingestor(hub)
    ingest.ingest_and_commit([
        _customer("shopify.main", "1", email="ann@example.com", first_name="Ann",
                  consent=[ConsentRecord(granted=True, recorded_at=T0)]),
        _order("shopify.main", "o1", "1", "40"),
    ])
    ingest.ingest_and_commit([
        _customer("hubspot.main", "h1", email="ann.work@example.com", last_name="Lee", phone="+14155550100",
                  consent=[ConsentRecord(granted=False, recorded_at=T0 - timedelta(days=3))]),
        InteractionRecord(instance="hubspot.main", external_id="t1", customer_external_id="h1",
                          kind="support_ticket", occurred_at=T0),
    ])
    return ingest.ingest_and_commit([
        _customer("hubspot.main", "h1", email="ANN@example.com", last_name="Lee", phone="+14155550100",
                  at=T0 + timedelta(days=1)),
    ])


def test_a_new_fact_linking_two_customers_merges_them_and_loses_nothing(hub):
    result = _two_customers_then_linked(hub)
    assert [(s, m) for s, m, _ in result.merges] == [(1, 2)]
    with hub.transaction() as session:
        survivor = session.get(Customer, 1)
        merged = session.get(Customer, 2)
        identities = session.exec(select(SourceIdentity).where(SourceIdentity.customer_id == 1)).scalars().all()
        interactions = session.exec(select(Interaction)).scalars().all()
        [consent] = session.exec(select(Consent)).scalars().all()
        stats = session.get(CustomerStats, 1)
        [record] = session.exec(select(MergeRecord)).scalars().all()
    assert (survivor.first_name, survivor.last_name, survivor.phone) == ("Ann", "Lee", "+14155550100")
    assert merged.status == "merged" and merged.merged_into_id == 1
    assert {i.instance for i in identities} == {"shopify.main", "hubspot.main"}
    assert [i.customer_id for i in interactions] == [1]
    assert consent.customer_id == 1 and consent.granted is True  # the newer consent wins
    assert stats.total_spent == Decimal("40")
    assert record.matched_on == "email" and "ann@example.com" in record.reason


def test_unmerge_restores_both_profiles_and_blocks_the_pair(hub):
    _two_customers_then_linked(hub)
    with hub.transaction() as session:
        [record] = session.exec(select(MergeRecord)).scalars().all()
        assert unmerge(session, record_id=record.id, now=hub.now()) == (1, 2)
    with hub.transaction() as session:
        survivor, restored = session.get(Customer, 1), session.get(Customer, 2)
        moved_back = session.exec(select(SourceIdentity).where(SourceIdentity.customer_id == 2)).scalars().all()
        ticket = session.exec(select(Interaction)).scalars().one()
        consents = {c.customer_id: c.granted for c in session.exec(select(Consent)).scalars()}
        orders = session.exec(select(Order)).scalars().all()
    assert restored.status == "active" and restored.merged_into_id is None
    assert restored.last_name == "Lee" and survivor.last_name is None and survivor.phone is None
    assert [i.instance for i in moved_back] == ["hubspot.main"]
    assert ticket.customer_id == 2
    assert consents == {1: True, 2: False}
    assert [o.customer_id for o in orders] == [1]

    # the same fact arriving again does not merge them again
    result = ingestor(hub).ingest_and_commit([
        _customer("hubspot.main", "h1", email="ann@example.com", last_name="Lee", at=T0 + timedelta(days=2)),
    ])
    assert result.merges == []
    with hub.transaction() as session:
        assert session.get(Customer, 2).status == "active"


def test_consent_withdrawn_after_a_merge_survives_the_unmerge(hub):
    _two_customers_then_linked(hub)
    ingestor(hub).ingest_and_commit([
        _customer("shopify.main", "1", email="ann@example.com", at=T0 + timedelta(days=5),
                  consent=[ConsentRecord(granted=False, recorded_at=T0 + timedelta(days=5))]),
    ])
    with hub.transaction() as session:
        [record] = session.exec(select(MergeRecord)).scalars().all()
        unmerge(session, record_id=record.id, now=hub.now() + timedelta(days=6))
    with hub.transaction() as session:
        consents = {c.customer_id: c.granted for c in session.exec(select(Consent)).scalars()}
    assert consents == {1: False, 2: False}


def test_unmerge_twice_is_refused(hub):
    import pytest

    from crmhub.core.errors import InputError

    _two_customers_then_linked(hub)
    with hub.transaction() as session:
        [record] = session.exec(select(MergeRecord)).scalars().all()
        unmerge(session, record_id=record.id, now=hub.now())
    with pytest.raises(InputError, match="already undone"), hub.transaction() as session:
        unmerge(session, record_id=record.id, now=hub.now())
