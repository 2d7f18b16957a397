"""Records of the fake WooCommerce store, in the REST API v3 shapes.

Builders turn generated people and catalogue products into the JSON of
``GET /wp-json/wc/v3/customers/{id}`` and ``/orders/{id}``: integer ids, money as strings
with two decimals, refunds as negative strings, ``customer_id`` 0 for guests and every date
twice, as WordPress stores it: ``date_created`` in the *site's* time zone and
``date_created_gmt`` in UTC, both as ``YYYY-MM-DDTHH:MM:SS`` without an offset. A plugin
that reads the non-GMT field as UTC is off by the site's offset, as it would be in
production.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from crmhub.core.testing.catalog import Product, pick_lines
from crmhub.core.testing.people import Person

__all__ = [
    "CustomerMeta",
    "OrderMeta",
    "add_refund",
    "build_customer",
    "build_order",
    "customer_meta",
    "generate_orders",
    "money",
    "order_meta",
    "parse_wc_date",
    "set_dates",
    "wc_date",
]

CENT = Decimal("0.01")
TAX_RATE = Decimal("0.19")
ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
)
PAYMENT_METHODS = (
    ("stripe", "Credit card (Stripe)"),
    ("paypal", "PayPal"),
    ("bacs", "Direct bank transfer"),
    ("cod", "Cash on delivery"),
)


def money(value: Decimal) -> str:
    """Two-decimal string, WooCommerce's money format."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def wc_date(when: datetime | None, tz: tzinfo) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS`` in ``tz`` (the site zone, or UTC for ``*_gmt``)."""
    if when is None:
        return None
    return when.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S")


def parse_wc_date(text: str, tz: tzinfo) -> datetime:
    """Parse a date parameter: with an offset it is absolute, without one it is in ``tz``."""
    when = datetime.fromisoformat(text.strip().replace(" ", "+").replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def set_dates(record: dict[str, Any], field: str, when: datetime | None, tz: tzinfo) -> None:
    """Set ``field`` (site time) and ``field_gmt`` (UTC) of ``record`` from ``when``."""
    record[field] = wc_date(when, tz)
    record[field + "_gmt"] = wc_date(when, timezone.utc)


def _billing(person: Person, *, with_contact: bool = True) -> dict[str, Any]:
    a = person.address
    out = {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "company": person.company or "",
        "address_1": a.address1,
        "address_2": a.address2,
        "city": a.city,
        "state": a.province_code,
        "postcode": a.zip,
        "country": a.country_code,
    }
    if with_contact:
        out["email"] = person.email
    out["phone"] = person.phone or ""
    return out


def build_customer(
    customer_id: int, person: Person, created: datetime, tz: tzinfo, *, role: str = "customer"
) -> dict[str, Any]:
    """A customer as ``GET /wc/v3/customers/{id}`` returns it."""
    username = person.email.split("@")[0].lower().replace("+", "")
    record: dict[str, Any] = {"id": customer_id}
    set_dates(record, "date_created", created, tz)
    set_dates(record, "date_modified", created, tz)
    record.update(
        {
            "email": person.email,
            "first_name": person.first_name,
            "last_name": person.last_name,
            "role": role,
            "username": username,
            "billing": _billing(person),
            "shipping": _billing(person, with_contact=False),
            "is_paying_customer": False,
            "avatar_url": "https://secure.gravatar.com/avatar/?s=96&d=mm&r=g",
            "meta_data": [],
        }
    )
    return record


def build_order(
    order_id: int,
    *,
    person: Person,
    customer_id: int,
    lines: Sequence[tuple[Product, int]],
    created: datetime,
    tz: tzinfo,
    currency: str,
    status: str = "processing",
    line_ids: list[int],
    payment: tuple[str, str] = PAYMENT_METHODS[0],
) -> dict[str, Any]:
    """An order as ``GET /wc/v3/orders/{id}`` returns it; ``customer_id=0`` is a guest order."""
    items = []
    subtotal = Decimal(0)
    tax_total = Decimal(0)
    for (product, qty), line_id in zip(lines, line_ids, strict=False):
        line_sub = product.price * qty
        line_tax = (line_sub * TAX_RATE).quantize(CENT, rounding=ROUND_HALF_UP)
        subtotal += line_sub
        tax_total += line_tax
        items.append(
            {
                "id": line_id,
                "name": product.title,
                "product_id": product.product_id % 100_000,
                "variation_id": 0,
                "quantity": qty,
                "tax_class": "",
                "subtotal": money(line_sub),
                "subtotal_tax": money(line_tax),
                "total": money(line_sub),
                "total_tax": money(line_tax),
                "taxes": [],
                "meta_data": [],
                "sku": product.sku,
                "price": float(product.price),
            }
        )
    shipping = Decimal("0.00") if subtotal >= 50 else Decimal("4.90")
    total = subtotal + tax_total + shipping
    record: dict[str, Any] = {
        "id": order_id,
        "parent_id": 0,
        "number": str(order_id),
        "order_key": f"wc_order_{order_id:x}{person.key:05d}",
        "created_via": "checkout",
        "version": "8.9.1",
        "status": status,
        "currency": currency,
    }
    set_dates(record, "date_created", created, tz)
    set_dates(record, "date_modified", created, tz)
    paid = status in ("processing", "completed", "refunded")
    record.update(
        {
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": money(shipping),
            "shipping_tax": "0.00",
            "cart_tax": money(tax_total),
            "total": money(total),
            "total_tax": money(tax_total),
            "prices_include_tax": False,
            "customer_id": customer_id,
            "customer_ip_address": "",
            "customer_user_agent": "",
            "customer_note": "",
            "billing": _billing(person),
            "shipping": _billing(person, with_contact=False),
            "payment_method": payment[0],
            "payment_method_title": payment[1],
            "transaction_id": f"txn_{order_id:08d}" if paid else "",
        }
    )
    set_dates(record, "date_paid", created + timedelta(minutes=1) if paid else None, tz)
    set_dates(record, "date_completed", None, tz)
    record.update(
        {
            "cart_hash": "",
            "meta_data": [],
            "line_items": items,
            "tax_lines": [],
            "shipping_lines": [
                {
                    "id": line_ids[-1] + 1,
                    "method_title": "Flat rate",
                    "method_id": "flat_rate",
                    "total": money(shipping),
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                }
            ],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
            "set_paid": False,
        }
    )
    return record


@dataclass(slots=True)
class OrderMeta:
    """Filterable facts of an order: absolute times (epoch seconds), status, customer."""

    created: float
    modified: float
    status: str
    customer_id: int


@dataclass(slots=True)
class CustomerMeta:
    """Filterable facts of a customer."""

    created: float
    email: str
    role: str
    name: str
    haystack: str


def _epoch(record: dict[str, Any], field: str) -> float:
    return datetime.fromisoformat(record[field + "_gmt"]).replace(tzinfo=timezone.utc).timestamp()


def order_meta(order: dict[str, Any]) -> OrderMeta:
    """Extract the filterable facts of ``order``."""
    return OrderMeta(
        _epoch(order, "date_created"),
        _epoch(order, "date_modified"),
        order["status"],
        int(order.get("customer_id") or 0),
    )


def customer_meta(customer: dict[str, Any]) -> CustomerMeta:
    """Extract the filterable facts of ``customer``."""
    name = f"{customer.get('first_name', '')} {customer.get('last_name', '')}".strip()
    haystack = " ".join([customer.get("email") or "", name, customer.get("username") or ""]).lower()
    return CustomerMeta(
        _epoch(customer, "date_created"),
        (customer.get("email") or "").lower(),
        customer.get("role") or "customer",
        name.lower(),
        haystack,
    )


def add_refund(
    order: dict[str, Any], refund_id: int, amount: Decimal, reason: str = ""
) -> dict[str, Any]:
    """Append a refund entry ``{id, reason, total}`` (total negative) to ``order``."""
    refund = {"id": refund_id, "reason": reason, "total": money(-amount)}
    order["refunds"].append(refund)
    return refund


def generate_orders(
    rng: random.Random,
    *,
    next_id: Any,
    customers: Sequence[tuple[int, Person, datetime]],
    guests: Sequence[Person],
    n_orders: int,
    guest_share: float,
    now: datetime,
    tz: tzinfo,
    currency: str,
) -> Iterator[dict[str, Any]]:
    """``n_orders`` orders over the year before ``now``, ids increasing with creation time.

    ``next_id()`` hands out post ids (refunds take ids from the same sequence, as in
    WordPress). About 75 % end ``completed``, some are ``processing``/``on-hold``/``pending``,
    3 % ``cancelled``, 3 % ``refunded`` and 2 % ``failed``; 4 % of completed orders carry a
    partial refund. ``guest_share`` of them are guest orders (``customer_id`` 0).
    """
    year_ago = now - timedelta(days=365)
    cum_weights = list(itertools.accumulate(rng.paretovariate(1.3) for _ in customers))
    indices = range(len(customers))
    plans: list[tuple[datetime, int]] = []
    for _ in range(n_orders):
        if not customers or rng.random() < guest_share:
            plans.append((year_ago + timedelta(seconds=rng.uniform(0, 365 * 86400)), -1))
            continue
        index = rng.choices(indices, cum_weights=cum_weights)[0] if len(customers) > 1 else 0
        since = max(customers[index][2], year_ago)
        plans.append(
            (
                since + timedelta(seconds=rng.uniform(0, max((now - since).total_seconds(), 60.0))),
                index,
            )
        )
    plans.sort(key=lambda p: p[0])
    for created, index in plans:
        if index < 0:
            person, customer_id = (rng.choice(guests) if guests else customers[0][1]), 0
        else:
            customer_id, person = customers[index][0], customers[index][1]
        age_days = (now - created).total_seconds() / 86400
        status = rng.choices(
            ["completed", "processing", "on-hold", "pending", "cancelled", "refunded", "failed"],
            [75, 10, 2, 5, 3, 3, 2],
        )[0]
        if age_days > 10 and status in ("processing", "on-hold", "pending"):
            status = "completed" if rng.random() < 0.8 else status
        lines = pick_lines(rng)
        order_id = next_id()
        line_ids = [next_id() for _ in range(len(lines) + 1)]
        order = build_order(
            order_id,
            person=person,
            customer_id=customer_id,
            lines=lines,
            created=created,
            tz=tz,
            currency=currency,
            status=status,
            line_ids=line_ids,
            payment=rng.choice(PAYMENT_METHODS),
        )
        modified = created + timedelta(minutes=2)
        if status == "completed":
            done = created + timedelta(days=rng.uniform(0.5, min(5.0, max(age_days, 0.6))))
            modified = min(done, now)
            set_dates(order, "date_completed", modified, tz)
            if rng.random() < 0.04 and age_days > 3:
                modified = min(modified + timedelta(days=rng.uniform(1, 10)), now)
                add_refund(
                    order, next_id(), Decimal(order["line_items"][0]["total"]), "Damaged item"
                )
        elif status == "refunded":
            modified = min(created + timedelta(days=rng.uniform(1, 20)), now)
            add_refund(order, next_id(), Decimal(order["total"]), "Customer request")
        elif status in ("cancelled", "failed"):
            modified = min(created + timedelta(hours=rng.uniform(1, 72)), now)
        set_dates(order, "date_modified", modified, tz)
        yield order
