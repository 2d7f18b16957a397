"""Records of the fake Shopify shop, in the Admin REST 2024-07 field set.

Builders here turn a generated :class:`~crmhub.core.testing.people.Person` and a few
products into the JSON objects ``GET customers.json`` / ``GET orders.json`` return:
integer ids, money as strings with two decimals (``"199.65"``), times as ISO 8601 in the
shop's time zone with an offset (``"2024-03-13T16:09:54-04:00"``), tags as one
comma-separated string. ``legacy=True`` swaps ``email_marketing_consent`` for the
pre-2022-04 ``accepts_marketing`` flags, as older API versions answered.

Customer ``phone`` is E.164 (Shopify normalises it); the phone on addresses and orders is
kept as the buyer typed it, so a sync meets both forms. :func:`generate_orders` lays out a
year of orders with refunds, cancellations, archived (closed) orders and guest checkouts.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from crmhub.core.testing.catalog import Product, pick_lines
from crmhub.core.testing.people import Person

__all__ = [
    "OrderMeta",
    "ShopIds",
    "apply_cancel",
    "apply_close",
    "apply_refund",
    "build_customer",
    "build_order",
    "customer_stub",
    "generate_orders",
    "iso",
    "money",
    "order_meta",
]

CENT = Decimal("0.01")
TAX_RATE = Decimal("0.08")
CANCEL_REASONS = ("customer", "inventory", "fraud", "declined", "other")
SOURCES = (
    "web",
    "web",
    "web",
    "web",
    "web",
    "web",
    "pos",
    "shopify_draft_order",
    "iphone",
    "android",
)


def money(value: Decimal) -> str:
    """Format an amount as Shopify does: a string with two decimals."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def iso(when: datetime | None, tz: tzinfo) -> str | None:
    """ISO 8601 in the shop's time zone with its offset, seconds precision (None stays None)."""
    if when is None:
        return None
    return when.astimezone(tz).isoformat(timespec="seconds")


class ShopIds:
    """Increasing id sequences of one shop (customers, orders, line items, refunds …)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.customer = 6_913_145_000_000
        self.order = 5_512_337_000_000
        self.line = 13_870_902_000_000
        self.other = 8_870_000_000_000
        self.number = 1000

    def next_customer(self) -> int:
        """A new customer id, larger than every earlier one."""
        self.customer += self._rng.randint(1, 9)
        return self.customer

    def next_order(self) -> tuple[int, int]:
        """A new order id and its order number (1001, 1002 …)."""
        self.order += self._rng.randint(1, 17)
        self.number += 1
        return self.order, self.number

    def next_line(self) -> int:
        """A new line-item id."""
        self.line += 1
        return self.line

    def next_other(self) -> int:
        """A new id for addresses, refunds, transactions and shipping lines."""
        self.other += 1
        return self.other


def _consent(person: Person, when: datetime, tz: tzinfo, legacy: bool) -> dict[str, Any]:
    if legacy:
        return {
            "accepts_marketing": person.marketing_opt_in,
            "accepts_marketing_updated_at": iso(when, tz),
            "marketing_opt_in_level": "single_opt_in" if person.marketing_opt_in else None,
        }
    state = "subscribed" if person.marketing_opt_in else "not_subscribed"
    return {
        "email_marketing_consent": {
            "state": state,
            "opt_in_level": "single_opt_in" if person.marketing_opt_in else "unknown",
            "consent_updated_at": iso(when, tz) if person.marketing_opt_in else None,
        },
        "sms_marketing_consent": None
        if person.phone_e164 is None
        else {
            "state": "not_subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": None,
            "consent_collected_from": "OTHER",
        },
    }


def _address(person: Person, address_id: int | None, customer_id: int | None) -> dict[str, Any]:
    a = person.address
    out: dict[str, Any] = {}
    if address_id is not None:
        out["id"] = address_id
        out["customer_id"] = customer_id
    out.update(
        {
            "first_name": person.first_name,
            "last_name": person.last_name,
            "company": person.company,
            "address1": a.address1,
            "address2": a.address2 or None,
            "city": a.city,
            "province": a.province,
            "country": a.country,
            "zip": a.zip,
            "phone": person.phone,
            "name": person.name,
            "province_code": a.province_code,
            "country_code": a.country_code,
            "country_name": a.country,
        }
    )
    if address_id is not None:
        out["default"] = True
    return out


def build_customer(
    ids: ShopIds,
    person: Person,
    created_at: datetime,
    *,
    tz: tzinfo,
    currency: str,
    legacy: bool = False,
    state: str = "enabled",
) -> dict[str, Any]:
    """A customer record as ``GET customers/{id}.json`` returns it (no orders yet)."""
    cid = ids.next_customer()
    address = _address(person, ids.next_other(), cid)
    stamp = iso(created_at, tz)
    record: dict[str, Any] = {
        "id": cid,
        "email": person.email,
        "created_at": stamp,
        "updated_at": stamp,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "orders_count": 0,
        "state": state,
        "total_spent": "0.00",
        "last_order_id": None,
        "note": None,
        "verified_email": state == "enabled",
        "multipass_identifier": None,
        "tax_exempt": False,
        "tags": ", ".join(person.tags),
        "last_order_name": None,
        "currency": currency,
        "phone": person.phone_e164,
        "addresses": [address],
        "tax_exemptions": [],
    }
    record.update(_consent(person, created_at, tz, legacy))
    record["admin_graphql_api_id"] = f"gid://shopify/Customer/{cid}"
    record["default_address"] = address
    return record


def customer_stub(customer: dict[str, Any]) -> dict[str, Any]:
    """The ``customer`` object embedded in an order (no aggregates, no address list)."""
    keys = (
        "id",
        "email",
        "created_at",
        "updated_at",
        "first_name",
        "last_name",
        "state",
        "note",
        "verified_email",
        "multipass_identifier",
        "tax_exempt",
        "phone",
        "email_marketing_consent",
        "sms_marketing_consent",
        "accepts_marketing",
        "tags",
        "currency",
        "tax_exemptions",
        "admin_graphql_api_id",
        "default_address",
    )
    return {k: customer[k] for k in keys if k in customer}


def _line(ids: ShopIds, product: Product, quantity: int) -> dict[str, Any]:
    lid = ids.next_line()
    return {
        "id": lid,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{lid}",
        "fulfillable_quantity": quantity,
        "fulfillment_status": None,
        "gift_card": product.sku.startswith("GIFT"),
        "grams": 200,
        "name": product.title,
        "price": money(product.price),
        "product_id": product.product_id,
        "quantity": quantity,
        "requires_shipping": not product.sku.startswith("GIFT"),
        "sku": product.sku,
        "taxable": True,
        "title": product.title.split(" – ")[0],
        "total_discount": "0.00",
        "variant_id": product.variant_id,
        "variant_title": product.title.split(" – ")[1] if " – " in product.title else None,
        "vendor": "crmhub demo",
    }


def build_order(
    ids: ShopIds,
    *,
    person: Person,
    customer: dict[str, Any] | None,
    lines: Sequence[tuple[Product, int]],
    created_at: datetime,
    tz: tzinfo,
    currency: str,
    financial_status: str = "paid",
    fulfillment_status: str | None = None,
    discount_rate: Decimal = Decimal(0),
    shipping: Decimal = Decimal("4.95"),
    source_name: str = "web",
    test: bool = False,
    tags: str = "",
    billing: dict[str, Any] | None = None,
    stub: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An order as ``GET orders/{id}.json`` returns it; ``customer=None`` makes a guest order.

    ``billing`` and ``stub`` may pass a prebuilt address and customer object (seeding shares
    them between the orders of one person, so their JSON is built once).
    """
    oid, number = ids.next_order()
    line_items = [_line(ids, product, qty) for product, qty in lines]
    if fulfillment_status == "fulfilled":
        for item in line_items:
            item["fulfillment_status"] = "fulfilled"
            item["fulfillable_quantity"] = 0
    items_total = sum((p.price * q for p, q in lines), Decimal(0))
    discount = (items_total * discount_rate).quantize(CENT, rounding=ROUND_HALF_UP)
    subtotal = items_total - discount
    tax = (subtotal * TAX_RATE).quantize(CENT, rounding=ROUND_HALF_UP)
    total = subtotal + tax + shipping
    stamp = iso(created_at, tz)
    if billing is None:
        billing = _address(person, None, None)
    if stub is None and customer is not None:
        stub = customer_stub(customer)
    return {
        "id": oid,
        "admin_graphql_api_id": f"gid://shopify/Order/{oid}",
        "buyer_accepts_marketing": person.marketing_opt_in,
        "cancel_reason": None,
        "cancelled_at": None,
        "closed_at": None,
        "confirmation_number": f"C{oid % 100_000_000:08d}",
        "confirmed": True,
        "contact_email": person.email,
        "created_at": stamp,
        "currency": currency,
        "current_subtotal_price": money(subtotal),
        "current_total_discounts": money(discount),
        "current_total_price": money(total),
        "current_total_tax": money(tax),
        "customer_locale": "en",
        "discount_codes": [{"code": "WELCOME10", "amount": money(discount), "type": "percentage"}]
        if discount
        else [],
        "email": person.email,
        "estimated_taxes": False,
        "financial_status": financial_status,
        "fulfillment_status": fulfillment_status,
        "name": f"#{number}",
        "note": None,
        "number": number - 1000,
        "order_number": number,
        "phone": person.phone,
        "presentment_currency": currency,
        "processed_at": stamp,
        "source_name": source_name,
        "subtotal_price": money(subtotal),
        "tags": tags,
        "taxes_included": False,
        "test": test,
        "total_discounts": money(discount),
        "total_line_items_price": money(items_total),
        "total_outstanding": "0.00" if financial_status == "paid" else money(total),
        "total_price": money(total),
        "total_tax": money(tax),
        "updated_at": stamp,
        "billing_address": billing,
        "shipping_address": billing,
        "customer": stub,
        "line_items": line_items,
        "refunds": [],
        "shipping_lines": [
            {
                "id": ids.next_other(),
                "code": "Standard",
                "price": money(shipping),
                "title": "Standard Shipping",
            }
        ],
    }


def apply_refund(
    order: dict[str, Any],
    ids: ShopIds,
    when: datetime,
    tz: tzinfo,
    *,
    full: bool = True,
    amount: Decimal | None = None,
) -> dict[str, Any]:
    """Refund ``order`` (fully, the first line, or a given ``amount``); returns the refund."""
    current = Decimal(order["current_total_price"])
    lines = order["line_items"]
    refund_lines: list[dict[str, Any]] = []
    if amount is None:
        if full:
            amount = current
            chosen = lines
        else:
            chosen = lines[:1]
            amount = min(
                current,
                sum((Decimal(i["price"]) * i["quantity"] for i in chosen), Decimal(0))
                * (1 + TAX_RATE),
            )
        for item in chosen:
            sub = Decimal(item["price"]) * item["quantity"]
            refund_lines.append(
                {
                    "id": ids.next_other(),
                    "line_item_id": item["id"],
                    "location_id": None,
                    "quantity": item["quantity"],
                    "restock_type": "return",
                    "subtotal": float(sub),
                    "total_tax": float((sub * TAX_RATE).quantize(CENT)),
                    "line_item": item,
                }
            )
    amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    rid, stamp = ids.next_other(), iso(when, tz)
    refund = {
        "id": rid,
        "admin_graphql_api_id": f"gid://shopify/Refund/{rid}",
        "created_at": stamp,
        "note": None,
        "order_id": order["id"],
        "processed_at": stamp,
        "restock": bool(refund_lines),
        "user_id": None,
        "order_adjustments": [],
        "transactions": [
            {
                "id": ids.next_other(),
                "amount": money(amount),
                "authorization": None,
                "created_at": stamp,
                "currency": order["currency"],
                "gateway": "shopify_payments",
                "kind": "refund",
                "order_id": order["id"],
                "parent_id": None,
                "processed_at": stamp,
                "source_name": "web",
                "status": "success",
                "test": order["test"],
            }
        ],
        "refund_line_items": refund_lines,
        "duties": [],
    }
    order["refunds"].append(refund)
    remaining = current - amount
    order["current_total_price"] = money(max(remaining, Decimal(0)))
    order["financial_status"] = "refunded" if remaining <= 0 else "partially_refunded"
    order["updated_at"] = stamp
    return refund


def apply_cancel(
    order: dict[str, Any], when: datetime, tz: tzinfo, reason: str = "customer"
) -> None:
    """Cancel ``order`` as the admin does: voided or refunded, archived at the same time."""
    stamp = iso(when, tz)
    order["cancelled_at"] = stamp
    order["cancel_reason"] = reason
    order["closed_at"] = stamp
    if order["financial_status"] in ("pending", "authorized"):
        order["financial_status"] = "voided"
    else:
        order["financial_status"] = "refunded"
    order["current_total_price"] = "0.00"
    order["current_subtotal_price"] = "0.00"
    order["current_total_tax"] = "0.00"
    order["fulfillment_status"] = None
    order["updated_at"] = stamp


def apply_close(order: dict[str, Any], when: datetime, tz: tzinfo) -> None:
    """Archive (close) ``order``."""
    order["closed_at"] = iso(when, tz)
    order["updated_at"] = order["closed_at"]


@dataclass(slots=True)
class OrderMeta:
    """What the list filters need of an order, as epoch seconds and flags."""

    created: float
    updated: float
    processed: float
    cancelled: bool
    closed: bool
    financial: str
    fulfillment: str | None
    customer_id: int | None
    spent: Decimal
    test: bool


def order_meta(order: dict[str, Any]) -> OrderMeta:
    """Extract the filterable facts of ``order``."""
    cust = order.get("customer")
    return OrderMeta(
        created=datetime.fromisoformat(order["created_at"]).timestamp(),
        updated=datetime.fromisoformat(order["updated_at"]).timestamp(),
        processed=datetime.fromisoformat(order["processed_at"] or order["created_at"]).timestamp(),
        cancelled=order.get("cancelled_at") is not None,
        closed=order.get("closed_at") is not None,
        financial=order.get("financial_status") or "pending",
        fulfillment=order.get("fulfillment_status"),
        customer_id=cust["id"] if cust else None,
        spent=Decimal(0)
        if order.get("cancelled_at")
        else Decimal(order.get("current_total_price") or "0"),
        test=bool(order.get("test")),
    )


def generate_orders(
    ids: ShopIds,
    rng: random.Random,
    *,
    customers: Sequence[tuple[dict[str, Any], Person]],
    guests: Sequence[Person],
    n_orders: int,
    guest_share: float,
    now: datetime,
    tz: tzinfo,
    currency: str,
) -> Iterator[dict[str, Any]]:
    """Lay out ``n_orders`` over the year before ``now``, in creation (= id) order.

    About 6 % get a refund (half of them full), 3 % are cancelled, paid and fulfilled
    orders older than two weeks are mostly archived (so the API's default ``status=open``
    hides them), and ``guest_share`` of them are guest checkouts without a customer.
    """
    year_ago = now - timedelta(days=365)
    cum_weights = list(itertools.accumulate(rng.paretovariate(1.3) for _ in customers))
    indices = range(len(customers))
    created_at = [datetime.fromisoformat(c["created_at"]) for c, _ in customers]
    billing_memo: dict[int, dict[str, Any]] = {}
    stub_memo: dict[int, dict[str, Any]] = {}
    plans: list[tuple[datetime, int]] = []  # (created_at, customer index or -1 for a guest)
    for _ in range(n_orders):
        if not customers or rng.random() < guest_share:
            plans.append((year_ago + timedelta(seconds=rng.uniform(0, 365 * 86400)), -1))
            continue
        index = rng.choices(indices, cum_weights=cum_weights)[0] if len(customers) > 1 else 0
        since = max(created_at[index], year_ago)
        span = max((now - since).total_seconds(), 60.0)
        plans.append((since + timedelta(seconds=rng.uniform(0, span)), index))
    plans.sort(key=lambda p: p[0])
    for created, index in plans:
        if index < 0:
            person = rng.choice(guests) if guests else customers[0][1]
            customer = None
        else:
            customer, person = customers[index]
        age_days = (now - created).total_seconds() / 86400
        financial = rng.choices(["paid", "pending", "authorized", "partially_paid"], [90, 4, 5, 1])[
            0
        ]
        fulfillment = None
        if financial == "paid" and age_days > 3:
            fulfillment = rng.choices(["fulfilled", "partial", None], [92, 3, 5])[0]
        order = build_order(
            ids,
            person=person,
            customer=customer,
            lines=pick_lines(rng),
            created_at=created,
            tz=tz,
            currency=currency,
            financial_status=financial,
            fulfillment_status=fulfillment,
            discount_rate=Decimal("0.10") if rng.random() < 0.1 else Decimal(0),
            shipping=Decimal(0) if rng.random() < 0.2 else Decimal("4.95"),
            source_name=rng.choice(SOURCES),
            test=rng.random() < 0.005,
            tags="gift" if rng.random() < 0.05 else "",
            billing=billing_memo.get(id(person)),
            stub=stub_memo.get(customer["id"]) if customer is not None else None,
        )
        billing_memo.setdefault(id(person), order["billing_address"])
        if customer is not None:
            stub_memo.setdefault(customer["id"], order["customer"])
        roll = rng.random()
        if roll < 0.03 and age_days > 1:
            apply_cancel(
                order, created + timedelta(hours=rng.uniform(1, 48)), tz, rng.choice(CANCEL_REASONS)
            )
        elif roll < 0.09 and financial == "paid" and age_days > 3:
            when = created + timedelta(days=rng.uniform(2, min(30.0, age_days)))
            apply_refund(order, ids, when, tz, full=rng.random() < 0.5)
            if order["financial_status"] == "refunded":
                apply_close(order, when, tz)
        elif (
            financial == "paid"
            and fulfillment == "fulfilled"
            and age_days > 14
            and rng.random() < 0.6
        ):
            apply_close(order, created + timedelta(days=14), tz)
        yield order
