"""WooCommerce payloads become canonical records: GMT dates, Decimal money, refunds,
statuses, guests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crmhub.plugins.woocommerce.mapping import STATUSES, map_customer, map_order
from tests.plugins.woocommerce.payloads import CUSTOMER, order

INSTANCE = "woocommerce.main"


def test_order_reads_gmt_dates_and_money_as_decimal():
    record = map_order(INSTANCE, order())
    assert record.placed_at == datetime(2025, 6, 30, 21, 30, 21, tzinfo=UTC)
    assert record.source_updated_at == datetime(2025, 7, 2, 7, 12, 40, tzinfo=UTC)
    assert record.attributes["date_paid_gmt"] == "2025-06-30T22:02:11"
    assert (record.total, record.tax, record.discounts) == (
        Decimal("33.56"),
        Decimal("4.56"),
        Decimal("5.00"),
    )
    assert record.subtotal == Decimal("23.95")
    assert record.currency == "EUR"
    assert record.customer_external_id == "26"
    assert record.email == "John.Doe@Example.com" and record.first_name == "John"


def test_refunds_are_positive_amounts_and_make_an_order_partially_refunded():
    record = map_order(INSTANCE, order())
    assert [(r.external_id, r.amount, r.reason) for r in record.refunds] == [
        ("731", Decimal("10.50"), "Damaged item")
    ]
    assert record.status == "partially_refunded"
    assert record.financial_status == "completed"
    full = map_order(INSTANCE, order(status="refunded", refunds=[{"id": 9, "total": "-33.56"}]))
    assert full.status == "refunded" and full.refunds[0].amount == Decimal("33.56")


def test_lines_keep_sku_variation_and_exact_prices():
    lines = map_order(INSTANCE, order()).lines
    assert [(l.external_id, l.product_id, l.sku, l.quantity, l.price) for l in lines] == [
        ("315", "93", None, 2, Decimal(3)),
        ("316", "23", "SYI-BLK-M", 1, Decimal("12.95")),
    ]


@pytest.mark.parametrize(
    "status, canonical",
    [
        ("pending", "pending"),
        ("processing", "paid"),
        ("on-hold", "pending"),
        ("completed", "fulfilled"),
        ("cancelled", "cancelled"),
        ("refunded", "refunded"),
        ("failed", "failed"),
        ("trash", "cancelled"),
    ],
)
def test_every_woocommerce_status_has_a_canonical_status(status, canonical):
    record = map_order(INSTANCE, order(status=status, refunds=[]))
    assert record.status == canonical == STATUSES[status]
    assert record.deleted is (status == "trash")


def test_statuses_added_by_plugins_map_by_payment():
    paid = map_order(INSTANCE, order(status="shipped", refunds=[]))
    unpaid = map_order(INSTANCE, order(status="awaiting-shipment", refunds=[], date_paid_gmt=None))
    assert (paid.status, unpaid.status) == ("paid", "pending")
    assert paid.financial_status == "shipped"


def test_guest_orders_carry_the_billing_email_and_no_customer_id():
    record = map_order(INSTANCE, order(customer_id=0))
    assert record.customer_external_id is None
    assert record.email == "John.Doe@Example.com"


def test_customer_record():
    record = map_customer(INSTANCE, CUSTOMER)
    assert record.external_id == "26"
    assert record.email == "john.doe@example.com"
    assert record.phone == "(555) 555-5555"
    assert record.created_at == datetime(2025, 3, 15, 0, 10, 2, tzinfo=UTC)
    assert record.source_updated_at == datetime(2025, 7, 2, 7, 12, 40, tzinfo=UTC)
    assert record.addresses and record.addresses[0]["country_code"] == "US"
    assert [a["kind"] for a in record.addresses] == ["billing", "shipping"]
    assert record.attributes == {
        "role": "customer",
        "username": "john.doe",
        "is_paying_customer": True,
    }


def test_customer_without_account_names_falls_back_to_billing():
    raw = {**CUSTOMER, "first_name": "", "last_name": "", "email": ""}
    record = map_customer(INSTANCE, raw)
    assert (record.first_name, record.last_name, record.email) == (
        "John",
        "Doe",
        "John.Doe@Example.com",
    )
