"""The ingest service: identity resolution, field conflicts, idempotency, out-of-order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from crmhub.core.ingest import ingestor
from crmhub.core.models import Consent, Customer, CustomerStats, Order, SourceIdentity
from crmhub.core.records import ConsentRecord, CustomerRecord, InteractionRecord, OrderRecord, RefundRecord
from tests.conftest import T0


def customer(instance: str = "shopify.main", external_id: str = "1", at=T0, **fields) -> CustomerRecord:
    return CustomerRecord(instance=instance, external_id=external_id, source_updated_at=at, **fields)


def order(external_id: str = "100", at=T0, **fields) -> OrderRecord:
    values = {"instance": "shopify.main", "currency": "USD", "total": Decimal("10"), "placed_at": T0}
    values.update(fields)
    return OrderRecord(external_id=external_id, source_updated_at=at, **values)


def active_customers(hub):
    with hub.transaction() as session:
        return session.exec(select(Customer).where(Customer.status == "active").order_by(Customer.id)).scalars().all()


def count(hub, model) -> int:
    with hub.transaction() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_same_email_in_different_case_across_sources_is_one_customer(hub):
    ingest = ingestor(hub)
    ingest.ingest_and_commit([customer(email="Bob@Example.com", first_name="Bob")])
    ingest.ingest_and_commit([customer("woocommerce.main", "77", email=" bob@example.COM", last_name="Norman")])

    [only] = active_customers(hub)
    assert only.email == "bob@example.com"
    assert (only.first_name, only.last_name) == ("Bob", "Norman")
    assert count(hub, SourceIdentity) == 2


def test_phone_in_another_format_matches_when_emails_do_not_disagree(hub):
    ingest = ingestor(hub)
    ingest.ingest_and_commit([customer(phone="+1 415-555-2671", first_name="Ann")])
    ingest.ingest_and_commit([customer("hubspot.main", "5", phone="(415) 555 2671")])
    assert len(active_customers(hub)) == 1


def test_shared_phone_with_different_emails_stays_two_people(hub):
    ingest = ingestor(hub)
    ingest.ingest_and_commit([customer(email="a@example.com", phone="+14155552671")])
    ingest.ingest_and_commit([customer("hubspot.main", "5", email="b@example.com", phone="+14155552671")])
    assert len(active_customers(hub)) == 2


def test_source_identity_wins_over_a_changed_email(hub):
    ingest = ingestor(hub)
    ingest.ingest_and_commit([customer(email="old@example.com")])
    ingest.ingest_and_commit([customer(email="new@example.com", at=T0 + timedelta(hours=1))])
    [only] = active_customers(hub)
    assert only.email == "new@example.com"


def test_same_record_twice_changes_nothing(hub):
    ingest = ingestor(hub)
    records = [customer(email="a@example.com", consent=[ConsentRecord(granted=True)]), order(customer_external_id="1")]
    first = ingest.ingest_and_commit(records)
    second = ingest.ingest_and_commit(records)
    assert (first.created, first.unchanged) == (2, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)


def test_older_version_after_newer_changes_nothing(hub):
    ingest = ingestor(hub)
    newer = customer(email="a@example.com", first_name="New", at=T0 + timedelta(days=1))
    older = customer(email="a@example.com", first_name="Old", at=T0)
    ingest.ingest_and_commit([newer])
    result = ingest.ingest_and_commit([older])
    assert result.unchanged == 1
    [only] = active_customers(hub)
    assert only.first_name == "New"


def test_out_of_order_delivery_ends_like_the_newest_alone(make_hub):
    versions = [customer(email="a@example.com", first_name=f"v{n}", at=T0 + timedelta(minutes=n)) for n in range(5)]
    shuffled, ordered = make_hub(), None
    ingestor(shuffled).ingest_and_commit([versions[4]])
    for version in (versions[1], versions[3], versions[0], versions[2]):
        ingestor(shuffled).ingest_and_commit([version])
    ordered = active_customers(shuffled)
    assert [c.first_name for c in ordered] == ["v4"]


def test_newest_source_wins_per_field_and_lineage_is_kept(hub):
    ingest = ingestor(hub)
    ingest.ingest_and_commit([customer(email="a@example.com", first_name="Shop", last_name="Keeper", at=T0)])
    ingest.ingest_and_commit([customer("hubspot.main", "9", email="a@example.com", first_name="Crm", at=T0 + timedelta(days=1))])
    ingest.ingest_and_commit([customer("woocommerce.main", "3", email="a@example.com", last_name="Stale", at=T0 - timedelta(days=1))])
    [only] = active_customers(hub)
    assert (only.first_name, only.last_name) == ("Crm", "Keeper")
    assert only.field_sources["first_name"]["source"] == "hubspot.main"
    assert only.field_sources["last_name"]["source"] == "shopify.main"


def test_guest_order_matches_customer_by_email_and_stats_net_refunds_and_cancellations(hub):
    ingest = ingestor(hub)
    ingest.ingest_and_commit([customer(email="buyer@example.com")])
    ingest.ingest_and_commit([
        order("1", email="BUYER@example.com", total=Decimal("100.00"),
              refunds=[RefundRecord(external_id="r1", amount=Decimal("30.25"))]),
        order("2", email="buyer@example.com", total=Decimal("50"), placed_at=T0 + timedelta(days=10)),
        order("3", email="buyer@example.com", total=Decimal("999"), status="cancelled",
              placed_at=T0 + timedelta(days=20)),
    ])
    [only] = active_customers(hub)
    with hub.transaction() as session:
        stats = session.get(CustomerStats, only.id)
    assert stats.orders_count == 2
    assert stats.total_spent == Decimal("119.75")
    assert stats.refunded_total == Decimal("30.25")
    assert stats.purchase_days == 2
    assert stats.repeat_revenue_mean == Decimal("50")
    assert stats.last_order_at == T0 + timedelta(days=10)


def test_order_before_its_customer_creates_the_customer_then_links(hub):
    ingest = ingestor(hub)
    ingest.ingest_and_commit([order(customer_external_id="42", email="late@example.com")])
    ingest.ingest_and_commit([customer(external_id="42", email="late@example.com", first_name="Late", at=T0 + timedelta(days=1))])
    [only] = active_customers(hub)
    assert only.first_name == "Late"
    assert count(hub, Order) == 1


def test_changed_order_replaces_lines_and_moves_stats(hub):
    ingest = ingestor(hub)
    ingest.ingest_and_commit([order(customer_external_id="1", email="a@example.com", total=Decimal("10"))])
    ingest.ingest_and_commit([order(customer_external_id="1", email="a@example.com", total=Decimal("15"),
                                    at=T0 + timedelta(hours=1))])
    with hub.transaction() as session:
        [stats] = session.exec(select(CustomerStats)).scalars().all()
    assert stats.total_spent == Decimal("15")


def test_consent_newest_wins(hub):
    ingest = ingestor(hub)
    ingest.ingest_and_commit([customer(email="a@example.com", consent=[ConsentRecord(granted=True, recorded_at=T0)])])
    result = ingest.ingest_and_commit([customer("hubspot.main", "5", email="a@example.com",
                                                consent=[ConsentRecord(granted=False, recorded_at=T0 + timedelta(days=2))])])
    ingest.ingest_and_commit([customer("woocommerce.main", "5", email="a@example.com",
                                       consent=[ConsentRecord(granted=True, recorded_at=T0 + timedelta(days=1))])])
    with hub.transaction() as session:
        [consent] = session.exec(select(Consent)).scalars().all()
    assert consent.granted is False and consent.source == "hubspot.main"
    assert result.consent_changes == [(1, "email", False, "hubspot.main")]


def test_interactions_are_idempotent(hub):
    ingest = ingestor(hub)
    record = InteractionRecord(instance="email.main", external_id="open-1", email="a@example.com",
                               kind="email_opened", occurred_at=T0)
    assert ingest.ingest_and_commit([record]).created == 1
    assert ingest.ingest_and_commit([record]).created == 0


def test_source_deletion_marks_the_identity(hub):
    ingest = ingestor(hub)
    ingest.ingest_and_commit([customer(email="a@example.com")])
    result = ingest.ingest_and_commit([customer(email="a@example.com", deleted=True, at=T0 + timedelta(hours=1))])
    assert result.deleted == 1
    with hub.transaction() as session:
        [identity] = session.exec(select(SourceIdentity)).scalars().all()
    assert identity.deleted_at is not None


def test_listeners_hear_about_upserts_and_orders(make_hub):
    heard: list[tuple[str, object]] = []

    class Listener:
        from crmhub.core.plugins import hookimpl

        @hookimpl
        def crmhub_on_customers_upserted(self, customer_ids, source):
            heard.append(("customers", (tuple(customer_ids), source)))

        @hookimpl
        def crmhub_on_orders_upserted(self, order_ids, created_ids):
            heard.append(("orders", tuple(created_ids)))


    hub = make_hub()
    hub.plugins.pm.register(Listener(), name="listener")
    ingestor(hub).ingest_and_commit([order(customer_external_id="1", email="a@example.com")], source="shopify.main")
    assert ("customers", ((1,), "shopify.main")) in heard
    assert ("orders", (1,)) in heard
