"""Shopify customers and orders (2024-07 shapes, and the legacy consent flag) map to
canonical records as the plugin's README documents."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from crmhub.plugins.shopify.fake import FakeShopify
from crmhub.plugins.shopify.mapping import map_customer, map_order, order_status

CUSTOMER: dict[str, Any] = {
    "id": 1073339462,
    "email": "bob.norman@mail.example.com",
    "created_at": "2024-07-01T11:56:48-04:00",
    "updated_at": "2024-07-02T09:14:02-04:00",
    "first_name": "Bob",
    "last_name": "Norman",
    "orders_count": 1,
    "state": "enabled",
    "total_spent": "199.65",
    "last_order_id": 450789469,
    "note": None,
    "verified_email": True,
    "tax_exempt": False,
    "tags": "Léon, Noël ,vip,,",
    "last_order_name": "#1001",
    "currency": "USD",
    "phone": "+16136120707",
    "addresses": [
        {
            "id": 207119551,
            "customer_id": 1073339462,
            "first_name": "Bob",
            "last_name": "Norman",
            "company": None,
            "address1": "Chestnut Street 92",
            "address2": "",
            "city": "Louisville",
            "province": "Kentucky",
            "country": "United States",
            "zip": "40202",
            "phone": "555-625-1199",
            "name": "Bob Norman",
            "province_code": "KY",
            "country_code": "US",
            "country_name": "United States",
            "default": True,
        }
    ],
    "email_marketing_consent": {
        "state": "subscribed",
        "opt_in_level": "confirmed_opt_in",
        "consent_updated_at": "2024-07-01T12:00:00-04:00",
    },
    "sms_marketing_consent": {
        "state": "not_subscribed",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": None,
        "consent_collected_from": "OTHER",
    },
    "admin_graphql_api_id": "gid://shopify/Customer/1073339462",
}

ORDER: dict[str, Any] = {
    "id": 450789469,
    "name": "#1001",
    "order_number": 1001,
    "email": "bob.norman@mail.example.com",
    "created_at": "2024-07-01T12:00:00-04:00",
    "processed_at": "2024-07-01T12:00:05-04:00",
    "updated_at": "2024-07-05T10:00:00-04:00",
    "cancelled_at": None,
    "closed_at": None,
    "currency": "USD",
    "presentment_currency": "USD",
    "financial_status": "partially_refunded",
    "fulfillment_status": "fulfilled",
    "subtotal_price": "597.00",
    "total_tax": "11.94",
    "total_discounts": "10.00",
    "total_price": "598.94",
    "current_total_price": "398.94",
    "tags": "gift, wholesale",
    "test": False,
    "source_name": "web",
    "customer": {
        "id": 1073339462,
        "email": "bob.norman@mail.example.com",
        "first_name": "Bob",
        "last_name": "Norman",
        "phone": "+16136120707",
    },
    "billing_address": {
        "first_name": "Bob",
        "last_name": "Norman",
        "phone": "555-625-1199",
        "country_code": "US",
    },
    "line_items": [
        {
            "id": 466157049,
            "product_id": 632910392,
            "variant_id": 39072856,
            "sku": "IPOD2008GREEN",
            "title": "IPod Nano - 8gb",
            "name": "IPod Nano - 8gb - green",
            "quantity": 1,
            "price": "199.00",
        },
        {
            "id": 518995019,
            "product_id": 632910392,
            "variant_id": 49148385,
            "sku": "IPOD2008RED",
            "title": "IPod Nano - 8gb",
            "name": "IPod Nano - 8gb - red",
            "quantity": 2,
            "price": "199.00",
        },
    ],
    "refunds": [
        {
            "id": 509562969,
            "created_at": "2024-07-05T09:59:00-04:00",
            "processed_at": "2024-07-05T10:00:00-04:00",
            "note": "wrong colour",
            "order_id": 450789469,
            "transactions": [
                {
                    "id": 179259969,
                    "kind": "refund",
                    "status": "success",
                    "amount": "150.00",
                    "currency": "USD",
                },
                {
                    "id": 179259970,
                    "kind": "refund",
                    "status": "success",
                    "amount": "50.00",
                    "currency": "USD",
                },
                {
                    "id": 179259971,
                    "kind": "refund",
                    "status": "failure",
                    "amount": "75.00",
                    "currency": "USD",
                },
            ],
            "refund_line_items": [],
        }
    ],
}


def test_a_2024_07_customer_maps_every_documented_field() -> None:
    record = map_customer(CUSTOMER, "shopify.main")

    assert record.instance == "shopify.main" and record.external_id == "1073339462"
    assert (record.email, record.phone, record.first_name, record.last_name) == (
        "bob.norman@mail.example.com",
        "+16136120707",
        "Bob",
        "Norman",
    )
    assert record.tags == ["Léon", "Noël", "vip"]
    assert record.addresses == [
        {
            "first_name": "Bob",
            "last_name": "Norman",
            "address1": "Chestnut Street 92",
            "city": "Louisville",
            "province": "Kentucky",
            "province_code": "KY",
            "zip": "40202",
            "country": "United States",
            "country_code": "US",
            "phone": "555-625-1199",
            "default": True,
        }
    ]
    assert record.created_at == datetime(2024, 7, 1, 15, 56, 48, tzinfo=UTC)
    assert record.source_updated_at == datetime(2024, 7, 2, 13, 14, 2, tzinfo=UTC)
    assert record.attributes == {
        "state": "enabled",
        "verified_email": True,
        "currency": "USD",
        "tax_exempt": False,
    }
    email, sms = record.consent
    assert (email.channel, email.granted, email.state, email.level) == (
        "email",
        True,
        "subscribed",
        "confirmed_opt_in",
    )
    assert email.recorded_at == datetime(2024, 7, 1, 16, 0, tzinfo=UTC)
    # a state never changed has held since the customer was created
    assert (sms.channel, sms.granted, sms.recorded_at) == ("sms", False, record.created_at)


@pytest.mark.parametrize(
    "state, granted",
    [
        ("subscribed", True),
        ("not_subscribed", False),
        ("pending", False),
        ("unsubscribed", False),
        ("redacted", False),
        ("invalid", False),
    ],
)
def test_only_a_subscribed_state_grants_email_consent(state: str, granted: bool) -> None:
    raw = {
        **CUSTOMER,
        "email_marketing_consent": {**CUSTOMER["email_marketing_consent"], "state": state},
    }
    assert map_customer(raw, "shopify.main").consent[0].granted is granted


def test_the_legacy_accepts_marketing_flag_is_read_when_the_consent_object_is_absent() -> None:
    raw = {k: v for k, v in CUSTOMER.items() if not k.endswith("marketing_consent")}
    raw.update(
        accepts_marketing=True,
        accepts_marketing_updated_at="2021-05-01T10:00:00Z",
        marketing_opt_in_level="single_opt_in",
    )

    (consent,) = map_customer(raw, "shopify.main").consent

    assert (consent.granted, consent.state, consent.level) == (True, "subscribed", "single_opt_in")
    assert consent.recorded_at == datetime(2021, 5, 1, 10, tzinfo=UTC)
    assert (
        map_customer({**raw, "accepts_marketing": False}, "shopify.main").consent[0].granted
        is False
    )


def test_a_legacy_shop_is_read_with_its_consent() -> None:
    shop = FakeShopify(legacy=True)
    shop.seed(20, 0, seed=2)
    records = [map_customer(shop.customer(cid), "shopify.main") for cid in shop.customer_ids]
    assert {r.consent[0].granted for r in records} == {True, False}
    assert all(r.consent[0].channel == "email" for r in records)


def test_an_order_keeps_money_as_decimal_and_refunds_apart_from_the_total() -> None:
    record = map_order(ORDER, "shopify.main")

    assert record.customer_external_id == "1073339462"
    assert (record.number, record.currency, record.status, record.financial_status) == (
        "#1001",
        "USD",
        "partially_refunded",
        "partially_refunded",
    )
    assert record.total == Decimal("598.94")  # total_price: what was charged at checkout
    assert (record.subtotal, record.tax, record.discounts) == (
        Decimal("597.00"),
        Decimal("11.94"),
        Decimal("10.00"),
    )
    assert record.placed_at == datetime(2024, 7, 1, 16, 0, 5, tzinfo=UTC)  # processed_at
    assert record.source_updated_at == datetime(2024, 7, 5, 14, tzinfo=UTC)
    (refund,) = record.refunds
    assert (refund.external_id, refund.amount, refund.reason) == (
        "509562969",
        Decimal("200.00"),
        "wrong colour",
    )
    # total minus refunds is Shopify's current total: nothing is counted twice
    assert record.total - refund.amount == Decimal(ORDER["current_total_price"])
    assert [(line.sku, line.quantity, line.price, line.title) for line in record.lines] == [
        ("IPOD2008GREEN", 1, Decimal("199.00"), "IPod Nano - 8gb - green"),
        ("IPOD2008RED", 2, Decimal("199.00"), "IPod Nano - 8gb - red"),
    ]
    assert record.tags == ["gift", "wholesale"]
    assert record.attributes["fulfillment_status"] == "fulfilled"


def test_refunds_paid_in_the_presentment_currency_are_converted_to_the_shop_currency() -> None:
    raw = copy.deepcopy(ORDER)
    raw["presentment_currency"] = "EUR"
    raw["total_price_set"] = {
        "shop_money": {"amount": "598.94", "currency_code": "USD"},
        "presentment_money": {"amount": "544.49", "currency_code": "EUR"},
    }
    raw["refunds"][0]["transactions"] = [
        {"kind": "refund", "status": "success", "amount": "100.00", "currency": "EUR"}
    ]

    (refund,) = map_order(raw, "shopify.main").refunds

    assert refund.amount == (Decimal("100.00") * Decimal("598.94") / Decimal("544.49")).quantize(
        Decimal("0.01")
    )


@pytest.mark.parametrize(
    "financial, fulfillment, cancelled, status",
    [
        ("paid", None, None, "paid"),
        ("paid", "partial", None, "paid"),
        ("paid", "fulfilled", None, "fulfilled"),
        ("pending", None, None, "pending"),
        ("authorized", None, None, "pending"),
        ("partially_paid", None, None, "pending"),
        ("unpaid", None, None, "pending"),
        ("refunded", "fulfilled", None, "refunded"),
        ("partially_refunded", None, None, "partially_refunded"),
        ("voided", None, None, "cancelled"),
        ("expired", None, None, "failed"),
        (None, None, None, "pending"),
        ("paid", "fulfilled", "2024-07-02T10:00:00-04:00", "cancelled"),
        ("refunded", None, "2024-07-02T10:00:00-04:00", "cancelled"),
    ],
)
def test_status_mapping(
    financial: str | None, fulfillment: str | None, cancelled: str | None, status: str
) -> None:
    raw = {
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "cancelled_at": cancelled,
    }
    assert order_status(raw) == status


def test_a_guest_order_has_no_customer_id_and_is_matched_by_its_email() -> None:
    raw = {**ORDER, "customer": None, "email": "", "contact_email": "guest@mail.example.com"}
    record = map_order(raw, "shopify.main")
    assert record.customer_external_id is None
    assert record.email == "guest@mail.example.com"
    assert (record.first_name, record.phone) == ("Bob", "555-625-1199")  # from the billing address


def test_every_fake_order_maps_and_refunded_orders_net_to_the_current_total() -> None:
    shop = FakeShopify()
    shop.seed(40, 400, seed=9)
    records = [
        (shop.order(oid), map_order(shop.order(oid), "shopify.main")) for oid in shop.order_ids
    ]
    refunded = [(raw, r) for raw, r in records if r.refunds and r.cancelled_at is None]
    assert refunded, "the seed holds refunded orders"
    for raw, record in refunded:
        assert record.total - sum(x.amount for x in record.refunds) == Decimal(
            raw["current_total_price"]
        )
    assert {r.status for _, r in records} >= {
        "paid",
        "fulfilled",
        "pending",
        "cancelled",
        "refunded",
    }
