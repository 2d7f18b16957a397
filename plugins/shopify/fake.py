"""A stateful fake of the Shopify Admin REST API (2024-07) on loopback.

``FakeShopify`` keeps customers and orders in memory, in the 2024-07 field set
(:mod:`.fake_data`), and serves them through :mod:`.fake_rest` as Shopify does: cursor
pagination with ``page_info`` in the ``Link`` header, the documented filters (orders default
to ``status=open``), ``limit`` 50 by default and at most 250. Every request passes:

- ``X-Shopify-Access-Token``, else 401 with Shopify's "[API] Invalid API key or access
  token" body;
- a leaky bucket per shop and token (capacity 40, draining 2 per second by default):
  ``X-Shopify-Shop-Api-Call-Limit: used/capacity`` on every answer, and 429 with
  ``Retry-After: 2.0`` when full (``rate_limit=False`` switches it off);
- injected 500/502/503 and latency (``fake.faults``); counters (``fake.counters``).

Mutations (:meth:`FakeShopify.seed`, ``add_/update_/delete_customer``, ``add_order``,
``refund_order``, ``cancel_order``, ``close_order``, ``delete_order``) are thread-safe and
stamp ``updated_at`` from :attr:`FakeShopify.clock`. Webhooks go out signed through
:meth:`FakeShopify.deliver` and :meth:`FakeShopify.redeliver` (:mod:`.fake_webhooks`).
"""

from __future__ import annotations

import hmac
import random
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.core.testing.catalog import Product, pick_lines
from crmhub.core.testing.fake_controls import Clock, FaultPlan
from crmhub.core.testing.fake_service import FakeService, json_bytes, json_response
from crmhub.core.testing.people import Address, Person, generate_people
from crmhub.core.testing.record_table import RecordTable
from crmhub.plugins.shopify.fake_data import (
    OrderMeta,
    ShopIds,
    apply_cancel,
    apply_close,
    apply_refund,
    build_customer,
    build_order,
    generate_orders,
    iso,
    money,
    order_meta,
)
from crmhub.plugins.shopify.fake_rest import INVALID_TOKEN, THROTTLED, LeakyBucket, ShopifyRest
from crmhub.plugins.shopify.fake_webhooks import (
    ShopifyDelivery,
    ShopifyWebhookSender,
    privacy_payload,
)

__all__ = ["FakeShopify", "LeakyBucket"]


class FakeShopify(FakeService):
    """In-memory Shopify shop serving the Admin REST API (see the module docstring).

    :param access_token: the token ``X-Shopify-Access-Token`` must carry.
    :param shop_domain: the ``*.myshopify.com`` domain (webhook header, privacy payloads).
    :param shop_id: numeric shop id used in privacy payloads.
    :param api_version: version announced in webhook headers.
    :param webhook_secret: the app's client secret that signs webhooks.
    :param legacy: serve the pre-2022-04 customer shape (``accepts_marketing``).
    :param timezone: IANA name of the shop's time zone (times carry its offset).
    :param currency: shop currency.
    :param rate_limit: False switches the leaky bucket off (headers still sent).
    :param bucket_size: bucket capacity (40 on standard plans).
    :param leak_rate: calls drained per second (2 on standard plans).
    :param clock: the fake's clock; :param faults: initial fault plan.
    """

    def __init__(
        self,
        *,
        access_token: str = "shpat_test_token",
        shop_domain: str = "crmhub-test.myshopify.com",
        shop_id: int = 954889,
        api_version: str = "2024-07",
        webhook_secret: str = "shopify-client-secret",
        legacy: bool = False,
        timezone: str = "America/New_York",
        currency: str = "USD",
        rate_limit: bool = True,
        bucket_size: int = 40,
        leak_rate: float = 2.0,
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.access_token = access_token
        self.shop_domain = shop_domain
        self.shop_id = shop_id
        self.api_version = api_version
        self.webhook_secret = webhook_secret
        self.legacy = legacy
        self.tz: tzinfo = ZoneInfo(timezone)
        self.currency = currency
        self.rate_limit = rate_limit
        self.bucket = LeakyBucket(bucket_size, leak_rate)
        self.customers: RecordTable[tuple[float, float]] = RecordTable()
        self.orders: RecordTable[OrderMeta] = RecordTable()
        self.deleted_customers: dict[int, datetime] = {}
        self.deleted_orders: dict[int, datetime] = {}
        self._customer_orders: dict[int, list[int]] = {}
        self._ids = ShopIds(random.Random(shop_id))
        self._rng = random.Random(shop_id + 1)
        self.webhooks = ShopifyWebhookSender(shop_domain, api_version, webhook_secret, self.now)

    # == data: seeding ============================================================================

    def seed(
        self,
        n_customers: int = 50,
        n_orders: int = 150,
        *,
        guest_share: float = 0.1,
        seed: int = 0,
        people: Sequence[Person] | None = None,
    ) -> None:
        """Add ``n_customers`` customers and ``n_orders`` orders spread over the past year.

        :param guest_share: share of orders placed as guest checkouts (``customer: null``).
        :param seed: makes the data deterministic (with a frozen clock, byte for byte).
        :param people: use these people as the customers instead of generating them
            (e.g. an :func:`~crmhub.core.testing.people.overlapping` set shared with WooCommerce).
        """
        rng = random.Random(seed)
        now = self.now()
        people = list(people) if people is not None else generate_people(n_customers, seed=seed)
        known = {p.email_normalized for p in people}
        guest_pool = [
            g
            for g in generate_people(max(10, int(n_orders * guest_share)), seed=seed + 7919)
            if g.email_normalized not in known
        ]
        created = sorted((now - timedelta(days=rng.uniform(0, 420)), i) for i in range(len(people)))
        with self.lock:
            pairs: list[tuple[dict[str, Any], Person]] = []
            for when, index in created:
                state = rng.choices(["enabled", "disabled", "invited"], [60, 35, 5])[0]
                record = build_customer(
                    self._ids,
                    people[index],
                    when,
                    tz=self.tz,
                    currency=self.currency,
                    legacy=self.legacy,
                    state=state,
                )
                pairs.append((record, people[index]))
            orders = generate_orders(
                self._ids,
                rng,
                customers=pairs,
                guests=guest_pool,
                n_orders=n_orders,
                guest_share=guest_share,
                now=now,
                tz=self.tz,
                currency=self.currency,
            )
            for record, _ in pairs:
                self._customer_orders.setdefault(record["id"], [])
                self._store_customer(record)
            touched: set[int] = set()
            shared: dict[int, bytes] = {}  # JSON of address/customer objects shared by orders

            def fragment(obj: Any) -> bytes:
                raw = shared.get(id(obj))
                if raw is None:
                    raw = shared[id(obj)] = json_bytes(obj)
                return raw

            for order in orders:
                parts = ("customer", "billing_address", "shipping_address")
                self._store_order(
                    order, {k: fragment(order[k]) for k in parts if order[k] is not None}
                )
                if order["customer"]:
                    touched.add(order["customer"]["id"])
            for cid in sorted(touched):
                self._refresh_customer(cid, bump=None)

    # == data: reading ============================================================================

    def customer(self, customer_id: int) -> dict[str, Any]:
        """The customer as the API returns it (a copy; KeyError when unknown)."""
        with self.lock:
            return self.customers.get(customer_id)

    def order(self, order_id: int) -> dict[str, Any]:
        """The order as the API returns it (a copy; KeyError when unknown)."""
        with self.lock:
            return self.orders.get(order_id)

    @property
    def customer_ids(self) -> list[int]:
        """All customer ids, ascending."""
        with self.lock:
            return list(self.customers.ids)

    @property
    def order_ids(self) -> list[int]:
        """All order ids, ascending."""
        with self.lock:
            return list(self.orders.ids)

    def find_customer(self, email: str) -> dict[str, Any] | None:
        """The customer whose e-mail matches case-insensitively, or None."""
        wanted = email.strip().lower()
        with self.lock:
            for cid in self.customers.ids:
                record = self.customers.get(cid)
                if (record.get("email") or "").lower() == wanted:
                    return record
        return None

    # == data: mutations ==========================================================================

    def add_customer(self, person: Person | None = None, **fields: Any) -> dict[str, Any]:
        """Create a customer now (from ``person`` or a generated one); ``fields`` override."""
        person = person or generate_people(1, seed=self._rng.randrange(1 << 30))[0]
        with self.lock:
            record = build_customer(
                self._ids,
                person,
                self.now(),
                tz=self.tz,
                currency=self.currency,
                legacy=self.legacy,
            )
            record.update(fields)
            self._customer_orders[record["id"]] = []
            self._store_customer(record)
            return record

    def update_customer(self, customer_id: int, **fields: Any) -> dict[str, Any]:
        """Change fields of a customer and bump its ``updated_at`` to now."""
        with self.lock:
            record = self.customers.get(customer_id)
            record.update(fields)
            record["updated_at"] = iso(self.now(), self.tz)
            self._store_customer(record)
            return record

    def delete_customer(self, customer_id: int) -> None:
        """Delete a customer; the id and time are remembered in :attr:`deleted_customers`."""
        with self.lock:
            self.customers.remove(customer_id)
            self._customer_orders.pop(customer_id, None)
            self.deleted_customers[customer_id] = self.now()

    def add_order(
        self,
        customer_id: int | None = None,
        *,
        person: Person | None = None,
        lines: Sequence[tuple[Product, int]] | None = None,
        created_at: datetime | None = None,
        financial_status: str = "paid",
        fulfillment_status: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Place an order now (or at ``created_at``) for a customer, or as a guest ``person``.

        The customer's ``orders_count``, ``total_spent`` and ``updated_at`` follow, as in Shopify.
        """
        with self.lock:
            customer = self.customers.get(customer_id) if customer_id is not None else None
            if person is None:
                if customer is not None:
                    person = _person_of(customer)
                else:
                    person = generate_people(1, seed=self._rng.randrange(1 << 30))[0]
            order = build_order(
                self._ids,
                person=person,
                customer=customer,
                lines=lines or pick_lines(self._rng),
                created_at=created_at or self.now(),
                tz=self.tz,
                currency=self.currency,
                financial_status=financial_status,
                fulfillment_status=fulfillment_status,
            )
            order.update(fields)
            self._store_order(order)
            if customer_id is not None:
                self._refresh_customer(customer_id, bump=self.now())
            return order

    def update_order(self, order_id: int, **fields: Any) -> dict[str, Any]:
        """Change fields of an order and bump its ``updated_at`` to now."""
        with self.lock:
            order = self.orders.get(order_id)
            order.update(fields)
            order["updated_at"] = iso(self.now(), self.tz)
            return self._save_order_change(order)

    def refund_order(self, order_id: int, amount: Decimal | str | None = None) -> dict[str, Any]:
        """Refund an order now (in full, or ``amount``); returns the refund object."""
        with self.lock:
            order = self.orders.get(order_id)
            refund = apply_refund(
                order,
                self._ids,
                self.now(),
                self.tz,
                amount=Decimal(amount) if amount is not None else None,
            )
            self._save_order_change(order)
            return refund

    def cancel_order(self, order_id: int, reason: str = "customer") -> dict[str, Any]:
        """Cancel an order now (it is also closed, as Shopify archives cancelled orders)."""
        with self.lock:
            order = self.orders.get(order_id)
            apply_cancel(order, self.now(), self.tz, reason)
            return self._save_order_change(order)

    def close_order(self, order_id: int) -> dict[str, Any]:
        """Archive an order now."""
        with self.lock:
            order = self.orders.get(order_id)
            apply_close(order, self.now(), self.tz)
            return self._save_order_change(order)

    def delete_order(self, order_id: int) -> None:
        """Delete an order; remembered in :attr:`deleted_orders`."""
        with self.lock:
            meta = self.orders.meta[order_id]
            self.orders.remove(order_id)
            self.deleted_orders[order_id] = self.now()
            if meta.customer_id is not None and meta.customer_id in self._customer_orders:
                self._customer_orders[meta.customer_id].remove(order_id)
                self._refresh_customer(meta.customer_id, bump=self.now())

    def _save_order_change(self, order: dict[str, Any]) -> dict[str, Any]:
        self._store_order(order)
        cust = order.get("customer")
        if cust and cust["id"] in self.customers:
            self._refresh_customer(cust["id"], bump=self.now())
        return order

    def _store_customer(self, record: dict[str, Any]) -> None:
        meta = (
            datetime.fromisoformat(record["created_at"]).timestamp(),
            datetime.fromisoformat(record["updated_at"]).timestamp(),
        )
        self.customers.put(record["id"], record, meta)

    def _store_order(
        self, order: dict[str, Any], fragments: dict[str, bytes] | None = None
    ) -> None:
        meta = order_meta(order)
        if order["id"] not in self.orders and meta.customer_id is not None:
            self._customer_orders.setdefault(meta.customer_id, []).append(order["id"])
        self.orders.put(order["id"], order, meta, fragments)

    def _refresh_customer(self, customer_id: int, *, bump: datetime | None) -> None:
        """Recompute a customer's order aggregates; ``updated_at`` goes to ``bump`` / last order."""
        if customer_id not in self.customers:
            return
        record = self.customers.get(customer_id)
        order_ids = [o for o in self._customer_orders.get(customer_id, []) if o in self.orders]
        metas = [self.orders.meta[o] for o in order_ids]
        record["orders_count"] = len(order_ids)
        record["total_spent"] = money(sum((m.spent for m in metas if not m.test), Decimal(0)))
        if order_ids:
            last = max(order_ids, key=lambda o: (self.orders.meta[o].created, o))
            record["last_order_id"] = last
            record["last_order_name"] = self.orders.get(last)["name"]
        else:
            record["last_order_id"] = record["last_order_name"] = None
        if bump is not None:
            record["updated_at"] = iso(bump, self.tz)
        elif metas:
            newest = max(
                max(m.created for m in metas),
                datetime.fromisoformat(record["updated_at"]).timestamp(),
            )
            record["updated_at"] = iso(datetime.fromtimestamp(newest, self.tz), self.tz)
        self._store_customer(record)

    # == webhooks =================================================================================

    def deliver(self, url: str, topic: str, payload: Any, **options: Any) -> httpx.Response:
        """Send a signed webhook delivery; see :meth:`ShopifyWebhookSender.deliver` for options."""
        return self.webhooks.deliver(url, topic, payload, **options)

    def redeliver(self, webhook_id: str | None = None, **options: Any) -> httpx.Response:
        """Re-send an earlier delivery unchanged (same id, body and headers), as Shopify retries."""
        return self.webhooks.redeliver(webhook_id, **options)

    @property
    def deliveries(self) -> list[ShopifyDelivery]:
        """Every delivery sent so far, oldest first."""
        return self.webhooks.deliveries

    def webhook_payload(self, topic: str, resource_id: int) -> dict[str, Any]:
        """The payload Shopify sends for ``topic`` about ``resource_id``.

        ``customers/*`` and ``orders/*`` carry the full resource as the REST API shows it,
        ``customers/delete`` and ``orders/delete`` only the id (plus nulls, as Shopify sends),
        ``refunds/create`` the latest refund of order ``resource_id``. For the privacy
        topics use :meth:`privacy_payload`.
        """
        with self.lock:
            if topic == "customers/delete":
                return {
                    "id": resource_id,
                    "phone": None,
                    "addresses": [],
                    "tax_exemptions": [],
                    "email_marketing_consent": None,
                    "sms_marketing_consent": None,
                    "admin_graphql_api_id": f"gid://shopify/Customer/{resource_id}",
                }
            if topic == "orders/delete":
                return {"id": resource_id}
            if topic.startswith("customers/"):
                return self.customers.get(resource_id)
            if topic == "refunds/create":
                refunds = self.orders.get(resource_id)["refunds"]
                if not refunds:
                    raise KeyError(f"order {resource_id} has no refund")
                return refunds[-1]
            if topic.startswith("orders/"):
                return self.orders.get(resource_id)
        raise ValueError(f"unsupported topic {topic!r}")

    def privacy_payload(self, topic: str, customer_id: int | None = None) -> dict[str, Any]:
        """Payload of ``customers/data_request``, ``customers/redact`` or ``shop/redact``."""
        with self.lock:
            customer = None
            order_ids: list[int] = []
            if customer_id is not None:
                customer = (
                    self.customers.get(customer_id)
                    if customer_id in self.customers
                    else {"id": customer_id, "email": None, "phone": None}
                )
                order_ids = [
                    o for o in self._customer_orders.get(customer_id, []) if o in self.orders
                ]
            return privacy_payload(
                topic,
                shop_id=self.shop_id,
                shop_domain=self.shop_domain,
                customer=customer,
                order_ids=order_ids,
            )

    # == HTTP =====================================================================================

    def routes(self) -> list[Route]:
        """The Admin REST routes (see :class:`~crmhub.plugins.shopify.fake_rest.ShopifyRest`)."""
        return ShopifyRest(self).routes()

    def check_auth(self, request: Request) -> Response | None:
        """401 unless ``X-Shopify-Access-Token`` equals the configured token."""
        token = request.headers.get("x-shopify-access-token", "")
        if hmac.compare_digest(token.encode(), self.access_token.encode()):
            return None
        return json_response(INVALID_TOKEN, 401)

    def check_rate(self, request: Request, endpoint: str) -> Response | None:
        """Spend one unit of the token's leaky bucket; 429 with ``Retry-After: 2.0`` when full."""
        key = f"{self.shop_domain}:{request.headers.get('x-shopify-access-token', '')}"
        if not self.rate_limit:
            request.state.call_limit = f"1/{self.bucket.capacity}"
            return None
        allowed, used = self.bucket.take(key)
        request.state.call_limit = f"{used}/{self.bucket.capacity}"
        if allowed:
            return None
        return json_response(THROTTLED, 429, {"Retry-After": "2.0"})

    def decorate(self, request: Request, endpoint: str, response: Response) -> None:
        """Add ``X-Shopify-Shop-Api-Call-Limit`` and ``X-Shopify-API-Version``."""
        limit = getattr(request.state, "call_limit", None)
        if limit is not None:
            response.headers["X-Shopify-Shop-Api-Call-Limit"] = limit
        version = request.path_params.get("version")
        if version:
            response.headers["X-Shopify-API-Version"] = version

    def fault_response(self, status: int) -> Response:
        """Shopify-like bodies for injected 500/502/503."""
        if status == 503:
            return json_response({"errors": "Unavailable Shop"}, 503)
        return super().fault_response(status)


def _person_of(customer: dict[str, Any]) -> Person:
    """Rebuild a Person from a customer record (for orders placed by that customer)."""
    a = customer.get("default_address") or {}
    address = Address(
        a.get("address1") or "",
        a.get("address2") or "",
        a.get("city") or "",
        a.get("province") or "",
        a.get("province_code") or "",
        a.get("zip") or "",
        a.get("country") or "",
        a.get("country_code") or "",
    )
    consent = customer.get("email_marketing_consent") or {}
    opted = consent.get("state") == "subscribed" or bool(customer.get("accepts_marketing"))
    return Person(
        0,
        customer.get("first_name") or "",
        customer.get("last_name") or "",
        customer.get("email") or "",
        a.get("phone") or customer.get("phone"),
        customer.get("phone"),
        None,
        address,
        tuple(t.strip() for t in (customer.get("tags") or "").split(",") if t.strip()),
        a.get("company"),
        opted,
    )
