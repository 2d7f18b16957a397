"""WooCommerce REST v3 payloads → canonical records.

- Times: only the ``*_gmt`` fields are read (``YYYY-MM-DDTHH:MM:SS`` in UTC); the plain
  fields are in the site's time zone and would be off by its offset.
- Money: the strings (``"39.90"``) become ``Decimal``; a refund's total is a negative string
  and becomes a :class:`RefundRecord` with a positive amount.
- Guests (``customer_id`` 0) have no customer id: the order carries the billing email and
  the hub files it under a ``guest:<email>`` identity of the instance.
- Status: see :data:`STATUSES`; ``trash`` marks the order deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crmhub.core.records import (
    CustomerRecord,
    OrderLineRecord,
    OrderRecord,
    OrderStatus,
    RefundRecord,
)

#: WooCommerce order status → canonical status. Orders with refunds smaller than their
#: total become ``partially_refunded``; other statuses (added by plugins) map to ``paid``
#: when ``date_paid`` is set, else ``pending``.
STATUSES: dict[str, OrderStatus] = {
    "pending": "pending",  # awaiting payment
    "on-hold": "pending",  # awaiting confirmation (bank transfer, cheque)
    "checkout-draft": "pending",  # block checkout, not submitted yet
    "processing": "paid",  # paid, not shipped
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "refunded": "refunded",
    "failed": "failed",
    "trash": "cancelled",  # and deleted=True
}
UNIT = Decimal("0.0001")


def gmt(value: Any) -> datetime | None:
    """A ``*_gmt`` field as an aware UTC datetime (None when empty or unreadable)."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def money(value: Any) -> Decimal:
    """A money string (or number) as Decimal; empty or unreadable values are 0."""
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _address(raw: Any, kind: str) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    address = {
        "kind": kind,
        "first_name": _text(raw.get("first_name")),
        "last_name": _text(raw.get("last_name")),
        "company": _text(raw.get("company")),
        "address1": _text(raw.get("address_1")),
        "address2": _text(raw.get("address_2")),
        "city": _text(raw.get("city")),
        "province_code": _text(raw.get("state")),
        "zip": _text(raw.get("postcode")),
        "country_code": _text(raw.get("country")),
        "phone": _text(raw.get("phone")),
    }
    if not any(address[k] for k in ("address1", "city", "zip", "country_code")):
        return None
    return {k: v for k, v in address.items() if v is not None}


def map_customer(instance: str, raw: dict[str, Any]) -> CustomerRecord:
    """A customer (``GET /customers/{id}``) as a canonical record."""
    billing = raw.get("billing") or {}
    addresses = [
        a for a in (_address(billing, "billing"), _address(raw.get("shipping"), "shipping")) if a
    ]
    created = gmt(raw.get("date_created_gmt"))
    return CustomerRecord(
        instance=instance,
        external_id=str(raw["id"]),
        email=_text(raw.get("email")) or _text(billing.get("email")),
        phone=_text(billing.get("phone")),
        first_name=_text(raw.get("first_name")) or _text(billing.get("first_name")),
        last_name=_text(raw.get("last_name")) or _text(billing.get("last_name")),
        addresses=addresses,
        created_at=created,
        source_updated_at=gmt(raw.get("date_modified_gmt")) or created,
        attributes={
            "role": raw.get("role"),
            "username": raw.get("username"),
            "is_paying_customer": bool(raw.get("is_paying_customer")),
        },
    )


def order_status(raw: dict[str, Any], total: Decimal, refunded: Decimal) -> OrderStatus:
    """The canonical status of an order (see :data:`STATUSES`)."""
    status = str(raw.get("status") or "")
    mapped = STATUSES.get(status)
    if mapped is None:
        mapped = "paid" if raw.get("date_paid_gmt") else "pending"
    if mapped in ("paid", "fulfilled") and Decimal(0) < refunded < total:
        return "partially_refunded"
    return mapped


def _line(raw: dict[str, Any]) -> OrderLineRecord:
    quantity = int(raw.get("quantity") or 0)
    price = money(raw.get("price"))
    if price == 0 and quantity:
        price = money(raw.get("total")) / quantity
    product = raw.get("variation_id") or raw.get("product_id")
    return OrderLineRecord(
        external_id=_text(raw.get("id")),
        sku=_text(raw.get("sku")),
        product_id=str(product) if product else None,
        title=_text(raw.get("name")),
        quantity=quantity,
        price=price.quantize(UNIT),
    )


def map_order(instance: str, raw: dict[str, Any]) -> OrderRecord:
    """An order (``GET /orders/{id}``) as a canonical record."""
    billing = raw.get("billing") or {}
    refunds = [
        RefundRecord(
            external_id=r["id"], amount=-money(r.get("total")), reason=_text(r.get("reason"))
        )
        for r in raw.get("refunds") or []
        if isinstance(r, dict) and "id" in r
    ]
    total = money(raw.get("total"))
    refunded = sum((r.amount for r in refunds), Decimal(0))
    lines = [_line(item) for item in raw.get("line_items") or [] if isinstance(item, dict)]
    created = gmt(raw.get("date_created_gmt"))
    modified = gmt(raw.get("date_modified_gmt")) or created
    customer_id = int(raw.get("customer_id") or 0)
    return OrderRecord(
        instance=instance,
        external_id=str(raw["id"]),
        customer_external_id=str(customer_id) if customer_id else None,
        email=_text(billing.get("email")),
        phone=_text(billing.get("phone")),
        first_name=_text(billing.get("first_name")),
        last_name=_text(billing.get("last_name")),
        number=_text(raw.get("number")),
        status=order_status(raw, total, refunded),
        financial_status=_text(raw.get("status")),
        currency=str(raw.get("currency") or "").upper(),
        total=total,
        subtotal=sum(
            (money(item.get("subtotal")) for item in raw.get("line_items") or []), Decimal(0)
        ),
        tax=money(raw.get("total_tax")),
        discounts=money(raw.get("discount_total")),
        placed_at=created or modified,
        lines=lines,
        refunds=refunds,
        source_updated_at=modified,
        attributes={
            k: raw.get(k)
            for k in ("payment_method", "created_via", "date_paid_gmt", "date_completed_gmt")
            if raw.get(k)
        },
        deleted=raw.get("status") == "trash",
    )
