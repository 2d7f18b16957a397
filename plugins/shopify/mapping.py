"""Shopify REST objects (2024-07 field set, older ones too) → canonical records.

The same functions map what ``customers.json`` / ``orders.json`` list and what the
``customers/*`` and ``orders/*`` webhooks carry (Shopify sends the REST object). Choices,
documented in the plugin's README:

- **Order total** is ``total_price``: what the buyer was charged at checkout, tax and
  shipping included. Refunds are separate :class:`RefundRecord` s (the successful
  ``refund`` transactions of each refund), and the hub counts ``total - refunds``; using
  ``current_total_price``, which already has refunds taken off, would count them twice.
- **Status**: ``cancelled_at`` set → cancelled; else by ``financial_status``: refunded,
  partially_refunded; voided → cancelled; expired → failed; paid → fulfilled when
  ``fulfillment_status`` is fulfilled, else paid; pending, authorized, partially_paid,
  unpaid (and anything unknown) → pending.
- **Consent**: ``email_marketing_consent.state == "subscribed"`` grants email consent
  (``sms_marketing_consent`` likewise for SMS); the legacy ``accepts_marketing`` flag is
  read when the new object is absent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crmhub.core.records import (
    ConsentRecord,
    CustomerRecord,
    OrderLineRecord,
    OrderRecord,
    RefundRecord,
    utc,
)

ADDRESS_KEYS = (
    "first_name",
    "last_name",
    "company",
    "address1",
    "address2",
    "city",
    "province",
    "province_code",
    "zip",
    "country",
    "country_code",
    "phone",
)
CUSTOMER_ATTRIBUTES = ("state", "verified_email", "currency", "tax_exempt")
ORDER_ATTRIBUTES = (
    "fulfillment_status",
    "cancel_reason",
    "closed_at",
    "source_name",
    "presentment_currency",
    "current_total_price",
    "order_number",
    "test",
)
_FINANCIAL = {
    "paid": "paid",
    "refunded": "refunded",
    "partially_refunded": "partially_refunded",
    "voided": "cancelled",
    "expired": "failed",
}


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time with offset (``2024-03-13T16:09:54-04:00``, ``…Z``) as aware UTC."""
    if not value:
        return None
    return utc(datetime.fromisoformat(str(value)))


def money(value: Any) -> Decimal | None:
    """A Shopify amount (a string such as ``"199.65"``) as a Decimal, None when absent."""
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None


def split_tags(value: Any) -> list[str]:
    """Shopify's comma-separated tag string as a list (a list is taken as it is)."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [tag.strip() for tag in items if str(tag).strip()]


def _address(raw: dict[str, Any]) -> dict[str, Any]:
    address = {key: raw[key] for key in ADDRESS_KEYS if raw.get(key) not in (None, "")}
    if raw.get("default"):
        address["default"] = True
    return address


def _consent(
    channel: str, raw: dict[str, Any] | None, fallback: datetime | None
) -> ConsentRecord | None:
    if not raw or not raw.get("state"):
        return None
    state = str(raw["state"]).lower()
    # a state never changed has no consent_updated_at: it has held since the customer was created
    return ConsentRecord(
        channel=channel,  # type: ignore[arg-type]
        granted=state == "subscribed",
        state=state,
        level=raw.get("opt_in_level"),
        recorded_at=parse_time(raw.get("consent_updated_at")) or fallback,
    )


def customer_consent(raw: dict[str, Any]) -> list[ConsentRecord]:
    """Email (and SMS) consent of a customer, from the 2022-04+ objects or the legacy flag."""
    created = parse_time(raw.get("created_at"))
    found = [
        consent
        for consent in (
            _consent("email", raw.get("email_marketing_consent"), created),
            _consent("sms", raw.get("sms_marketing_consent"), created),
        )
        if consent is not None
    ]
    if "email_marketing_consent" not in raw and raw.get("accepts_marketing") is not None:
        granted = bool(raw["accepts_marketing"])
        found.insert(
            0,
            ConsentRecord(
                channel="email",
                granted=granted,
                state="subscribed" if granted else "not_subscribed",
                level=raw.get("marketing_opt_in_level"),
                recorded_at=parse_time(raw.get("accepts_marketing_updated_at")) or created,
            ),
        )
    return found


def map_customer(raw: dict[str, Any], instance: str) -> CustomerRecord:
    """A Shopify customer as a :class:`CustomerRecord` of ``instance``."""
    addresses = [_address(a) for a in raw.get("addresses") or [] if isinstance(a, dict)]
    if not addresses and isinstance(raw.get("default_address"), dict):
        addresses = [_address(raw["default_address"])]
    return CustomerRecord(
        instance=instance,
        external_id=raw["id"],
        email=raw.get("email") or None,
        phone=raw.get("phone") or None,
        first_name=raw.get("first_name") or None,
        last_name=raw.get("last_name") or None,
        tags=split_tags(raw.get("tags")),
        addresses=addresses,
        created_at=parse_time(raw.get("created_at")),
        consent=customer_consent(raw),
        attributes={key: raw[key] for key in CUSTOMER_ATTRIBUTES if raw.get(key) is not None},
        source_updated_at=parse_time(raw.get("updated_at")),
    )


def order_status(raw: dict[str, Any]) -> str:
    """The canonical status of an order (see the module docstring)."""
    if raw.get("cancelled_at"):
        return "cancelled"
    financial = str(raw.get("financial_status") or "").lower()
    status = _FINANCIAL.get(financial, "pending")
    if status == "paid" and raw.get("fulfillment_status") == "fulfilled":
        return "fulfilled"
    return status


def _rate_to_shop_currency(raw: dict[str, Any]) -> Decimal | None:
    """Shop money per presentment unit, from ``total_price_set`` (None when unknown)."""
    price_set = raw.get("total_price_set") or {}
    shop = money((price_set.get("shop_money") or {}).get("amount"))
    shown = money((price_set.get("presentment_money") or {}).get("amount"))
    return shop / shown if shop is not None and shown else None


def map_refunds(raw: dict[str, Any]) -> list[RefundRecord]:
    """One record per refund: the sum of its successful ``refund`` transactions."""
    currency = str(raw.get("currency") or "").upper()
    rate = None
    refunds = []
    for refund in raw.get("refunds") or []:
        amount = Decimal(0)
        for transaction in refund.get("transactions") or []:
            if transaction.get("kind") != "refund" or transaction.get("status") not in (
                None,
                "success",
            ):
                continue
            value = money(transaction.get("amount")) or Decimal(0)
            paid_in = str(transaction.get("currency") or currency).upper()
            if paid_in != currency:  # a presentment-currency refund: convert to the shop's
                rate = rate if rate is not None else _rate_to_shop_currency(raw)
                value = (value * rate).quantize(Decimal("0.01")) if rate is not None else value
            amount += value
        if amount > 0:
            refunds.append(
                RefundRecord(
                    external_id=refund["id"],
                    amount=amount,
                    created_at=parse_time(refund.get("processed_at") or refund.get("created_at")),
                    reason=refund.get("note") or None,
                )
            )
    return refunds


def map_lines(raw: dict[str, Any]) -> list[OrderLineRecord]:
    """The order's line items."""
    return [
        OrderLineRecord(
            external_id=str(item["id"]) if item.get("id") is not None else None,
            sku=item.get("sku") or None,
            product_id=str(item["product_id"]) if item.get("product_id") is not None else None,
            title=item.get("name") or item.get("title"),
            quantity=int(item.get("quantity") or 0),
            price=money(item.get("price")) or Decimal(0),
        )
        for item in raw.get("line_items") or []
    ]


def map_order(raw: dict[str, Any], instance: str) -> OrderRecord:
    """A Shopify order as an :class:`OrderRecord` of ``instance`` (guest orders have no
    ``customer`` and are matched by email)."""
    customer = raw.get("customer") or {}
    billing = raw.get("billing_address") or raw.get("shipping_address") or {}
    total = money(raw.get("total_price"))
    if total is None:
        total = money(raw.get("current_total_price")) or Decimal(0)
    attributes = {key: raw[key] for key in ORDER_ATTRIBUTES if raw.get(key) not in (None, "")}
    return OrderRecord(
        instance=instance,
        external_id=raw["id"],
        customer_external_id=customer.get("id"),
        email=raw.get("email") or raw.get("contact_email") or customer.get("email") or None,
        phone=customer.get("phone") or raw.get("phone") or billing.get("phone") or None,
        first_name=customer.get("first_name") or billing.get("first_name") or None,
        last_name=customer.get("last_name") or billing.get("last_name") or None,
        number=raw.get("name") or (str(raw["order_number"]) if raw.get("order_number") else None),
        status=order_status(raw),  # type: ignore[arg-type]
        financial_status=raw.get("financial_status"),
        currency=raw["currency"],
        total=total,
        subtotal=money(raw.get("subtotal_price")),
        tax=money(raw.get("total_tax")),
        discounts=money(raw.get("total_discounts")),
        placed_at=parse_time(raw.get("processed_at") or raw.get("created_at")),
        cancelled_at=parse_time(raw.get("cancelled_at")),
        lines=map_lines(raw),
        refunds=map_refunds(raw),
        tags=split_tags(raw.get("tags")),
        attributes=attributes,
        source_updated_at=parse_time(raw.get("updated_at")),
    )


def updated_at(raw: dict[str, Any]) -> datetime | None:
    """A record's ``updated_at`` as aware UTC (None when absent or unreadable)."""
    try:
        return parse_time(raw.get("updated_at"))
    except ValueError:
        return None
