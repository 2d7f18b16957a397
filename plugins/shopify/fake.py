"""A stateful fake of the Shopify Admin REST API (2024-07) on loopback.

``FakeShopify`` keeps customers and orders in memory and serves them the way Shopify's
REST Admin API does, so the shopify plugin, the benchmarks and ``crmhub demo`` meet the
same behaviour as in production:

- ``GET /admin/api/{version}/customers.json``, ``orders.json``, ``customers/count.json``,
  ``orders/count.json``, ``customers/{id}.json``, ``orders/{id}.json``;
- ``X-Shopify-Access-Token`` must match, else 401 with Shopify's "[API] Invalid API key or
  access token" body;
- ``limit`` defaults to 50; values above 250 are *clamped* to 250 (Shopify answers a
  larger limit with 250 records rather than an error); results are ordered by id;
- filters ``ids``, ``since_id``, ``created_at_min/max``, ``updated_at_min/max`` (both
  inclusive, ISO 8601, an offset-less time is shop-local), plus for orders
  ``processed_at_min/max``, ``status`` (default ``open`` = neither cancelled nor closed;
  ``closed`` = archived, ``cancelled``, ``any``), ``financial_status`` and
  ``fulfillment_status``;
- cursor pagination in the ``Link`` header: ``<…?limit=N&page_info=T>; rel="previous"``
  and ``rel="next"``, none when everything fits. The token is base64 of a JSON object
  holding the filters, the direction and the anchor id, so it fully determines its page;
  a request with ``page_info`` and any parameter other than ``limit``/``fields`` gets 400
  ``{"errors":{"page_info":["<param> cannot be passed when page_info is present"]}}``;
- a leaky bucket per access token (capacity 40, leaking 2/s by default):
  ``X-Shopify-Shop-Api-Call-Limit: used/capacity`` on every answer, 429 with
  ``Retry-After: 2.0`` when full;
- injected 500/502/503 and latency (``fake.faults``), counters (``fake.counters``).

Mutations (:meth:`FakeShopify.seed`, ``add_/update_/delete_customer``, ``add_order``,
``refund_order``, ``cancel_order`` …) are thread-safe and stamp ``updated_at`` from
:attr:`FakeShopify.clock`. Webhooks go out through :meth:`FakeShopify.deliver` (see
:mod:`crmhub.plugins.shopify.fake_webhooks`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from crmhub.core.testing.catalog import Product, pick_lines
from crmhub.core.testing.fake_controls import Clock, FaultPlan
from crmhub.core.testing.fake_service import FakeService, json_response
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
from crmhub.plugins.shopify.fake_webhooks import (
    ShopifyDelivery,
    ShopifyWebhookSender,
    privacy_payload,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["FakeShopify", "LeakyBucket"]

MAX_LIMIT = 250
DEFAULT_LIMIT = 50
INVALID_TOKEN = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}
THROTTLED = {
    "errors": "Exceeded 2 calls per second for api client. "
    "Reduce request rates to resume uninterrupted service."
}
_TIME_FILTERS = ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max")
_ORDER_TIME_FILTERS = _TIME_FILTERS + ("processed_at_min", "processed_at_max")
_ORDER_STATUSES = ("open", "closed", "cancelled", "any")
_FINANCIAL = {
    "authorized",
    "pending",
    "paid",
    "partially_paid",
    "refunded",
    "voided",
    "partially_refunded",
    "unpaid",
    "any",
}
_FULFILLMENT = {"shipped", "partial", "unshipped", "any", "unfulfilled", "fulfilled"}


class LeakyBucket:
    """Shopify's REST limiter: each call adds one unit, the bucket drains at ``leak_rate``/s.

    A call that finds the bucket full is refused (429) and adds nothing.
    """

    def __init__(
        self,
        capacity: int = 40,
        leak_rate: float = 2.0,
        time_fn: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.leak_rate = leak_rate
        self._time = time_fn
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> tuple[bool, int]:
        """Try to add one call for ``key``; returns (allowed, units in the bucket now)."""
        with self._lock:
            now = self._time()
            level, last = self._state.get(key, (0.0, now))
            level = max(0.0, level - (now - last) * self.leak_rate)
            allowed = level + 1 <= self.capacity + 1e-9
            if allowed:
                level += 1
            self._state[key] = (level, now)
            return allowed, min(self.capacity, math.ceil(level - 1e-9))

    def reset(self) -> None:
        """Empty every bucket."""
        with self._lock:
            self._state.clear()


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(token: str) -> dict[str, Any]:
    padded = token + "=" * (-len(token) % 4)
    data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(data, dict):
        raise ValueError("token is not an object")
    return data


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
            for order in orders:
                self._store_order(order)
            touched = {o["customer"]["id"] for o in orders if o["customer"]}
            for cid in touched:
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

    def _store_order(self, order: dict[str, Any]) -> None:
        meta = order_meta(order)
        if order["id"] not in self.orders and meta.customer_id is not None:
            self._customer_orders.setdefault(meta.customer_id, []).append(order["id"])
        self.orders.put(order["id"], order, meta)

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
        """The Admin REST routes this fake serves."""
        base = "/admin/api/{version}"
        return [
            self.route(base + "/customers/count.json", "customers.count", self._count_customers),
            self.route(base + "/orders/count.json", "orders.count", self._count_orders),
            self.route(base + "/customers.json", "customers.list", self._list_customers),
            self.route(base + "/orders.json", "orders.list", self._list_orders),
            self.route(base + "/customers/{rid:int}.json", "customers.get", self._get_customer),
            self.route(base + "/orders/{rid:int}.json", "orders.get", self._get_order),
        ]

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

    async def _get_customer(self, request: Request) -> Response:
        return self._get_one(self.customers, "customer", request)

    async def _get_order(self, request: Request) -> Response:
        return self._get_one(self.orders, "order", request)

    def _get_one(self, table: RecordTable[Any], key: str, request: Request) -> Response:
        rid = request.path_params["rid"]
        with self.lock:
            if rid not in table:
                return json_response({"errors": "Not Found"}, 404)
            raw = table.raw(rid)
        fields = _fields(request)
        if fields:
            return json_response({key: _pick(json.loads(raw), fields)})
        return json_response(None, raw=b'{"' + key.encode() + b'":' + raw + b"}")

    async def _count_customers(self, request: Request) -> Response:
        return self._count(request, "customers")

    async def _count_orders(self, request: Request) -> Response:
        return self._count(request, "orders")

    def _count(self, request: Request, resource: str) -> Response:
        filters = self._parse_filters(resource, request)
        if isinstance(filters, Response):
            return filters
        with self.lock:
            table, match, candidates = self._query(resource, filters)
            ids = candidates if candidates is not None else table.ids
            count = len(ids) if match is None else sum(1 for rid in ids if match(rid))
        return json_response({"count": count})

    async def _list_customers(self, request: Request) -> Response:
        return self._list(request, "customers")

    async def _list_orders(self, request: Request) -> Response:
        return self._list(request, "orders")

    def _list(self, request: Request, resource: str) -> Response:
        q = request.query_params
        try:
            limit = min(int(q.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
        except ValueError:
            return json_response({"errors": {"limit": ["must be an integer"]}}, 400)
        limit = max(limit, 1)
        anchor: int | None = None
        direction = "next"
        if "page_info" in q:
            extra = [k for k in q.keys() if k not in ("page_info", "limit", "fields")]
            if extra:
                return json_response(
                    {
                        "errors": {
                            "page_info": [f"{extra[0]} cannot be passed when page_info is present"]
                        }
                    },
                    400,
                )
            try:
                token = _unb64(q["page_info"])
                if token.get("r") != resource:
                    raise ValueError("token of another resource")
                filters, anchor, direction = token["f"], int(token["a"]), token["d"]
            except (ValueError, KeyError, TypeError, binascii.Error):
                return json_response({"errors": {"page_info": ["Invalid value."]}}, 400)
        else:
            parsed = self._parse_filters(resource, request)
            if isinstance(parsed, Response):
                return parsed
            filters = parsed
        with self.lock:
            table, match, candidates = self._query(resource, filters)
            if direction == "prev":
                found = table.scan(
                    before=anchor, match=match, limit=limit + 1, candidates=candidates
                )
                has_prev = len(found) > limit
                page = found[-limit:] if has_prev else found
                has_next = bool(page) and bool(
                    table.scan(after=page[-1], match=match, limit=1, candidates=candidates)
                )
            else:
                since = filters.get("since_id")
                start = max([x for x in (anchor, since) if x is not None], default=None)
                found = table.scan(after=start, match=match, limit=limit + 1, candidates=candidates)
                has_next = len(found) > limit
                page = found[:limit]
                has_prev = (
                    anchor is not None
                    and bool(page)
                    and bool(
                        table.scan(before=page[0], match=match, limit=1, candidates=candidates)
                    )
                )
            fields = _fields(request)
            if fields:
                body = json.dumps(
                    {resource: [_pick(table.get(r), fields) for r in page]},
                    separators=(",", ":"),
                    ensure_ascii=False,
                ).encode()
            else:
                body = b'{"' + resource.encode() + b'":[' + table.join(page) + b"]}"
        headers: dict[str, str] = {}
        links = []
        base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        extra_q = {"limit": str(limit)}
        if q.get("fields"):
            extra_q["fields"] = q["fields"]
        if has_prev and page:
            cursor = _b64({"r": resource, "f": filters, "a": page[0], "d": "prev"})
            links.append(f'<{base}?{urlencode({**extra_q, "page_info": cursor})}>; rel="previous"')
        if has_next and page:
            cursor = _b64({"r": resource, "f": filters, "a": page[-1], "d": "next"})
            links.append(f'<{base}?{urlencode({**extra_q, "page_info": cursor})}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        return json_response(None, headers=headers, raw=body)

    def _parse_filters(self, resource: str, request: Request) -> dict[str, Any] | Response:
        q = request.query_params
        out: dict[str, Any] = {}
        time_keys = _ORDER_TIME_FILTERS if resource == "orders" else _TIME_FILTERS
        for key in time_keys:
            if key in q:
                try:
                    when = datetime.fromisoformat(q[key].replace(" ", "+"))
                except ValueError:
                    return json_response({"errors": {key: ["is not a valid ISO 8601 time"]}}, 400)
                if when.tzinfo is None:
                    when = when.replace(tzinfo=self.tz)
                out[key] = when.timestamp()
        try:
            if "since_id" in q:
                out["since_id"] = int(q["since_id"])
            if q.get("ids"):
                out["ids"] = sorted({int(x) for x in q["ids"].split(",") if x.strip()})
        except ValueError:
            return json_response({"errors": {"ids": ["must be integers"]}}, 400)
        if resource == "orders":
            status = q.get("status", "open")
            if status not in _ORDER_STATUSES:
                return json_response(
                    {"errors": {"status": [f"{status} is not a valid status"]}}, 400
                )
            out["status"] = status
            for key, allowed in (
                ("financial_status", _FINANCIAL),
                ("fulfillment_status", _FULFILLMENT),
            ):
                if key in q:
                    if q[key] not in allowed:
                        return json_response({"errors": {key: [f"{q[key]} is not valid"]}}, 400)
                    out[key] = q[key]
        return out

    def _query(
        self, resource: str, f: dict[str, Any]
    ) -> tuple[RecordTable[Any], Callable[[int], bool] | None, list[int] | None]:
        """The table, a match function (None = everything) and candidate ids for filters ``f``."""
        since = f.get("since_id")
        if resource == "customers":
            ctable = self.customers
            cmeta = ctable.meta
            bounds = [
                (f.get("created_at_min"), f.get("created_at_max"), 0),
                (f.get("updated_at_min"), f.get("updated_at_max"), 1),
            ]
            active = [(lo, hi, i) for lo, hi, i in bounds if lo is not None or hi is not None]

            def match_customer(rid: int) -> bool:
                if since is not None and rid <= since:
                    return False
                m = cmeta[rid]
                for lo, hi, i in active:
                    if (lo is not None and m[i] < lo) or (hi is not None and m[i] > hi):
                        return False
                return True

            match: Callable[[int], bool] | None = (
                match_customer if (active or since is not None) else None
            )
            table: RecordTable[Any] = ctable
        else:
            otable = self.orders
            ometa = otable.meta
            ranges = [
                (f.get(f"{name}_min"), f.get(f"{name}_max"), name.split("_")[0])
                for name in ("created_at", "updated_at", "processed_at")
            ]
            active_o = [
                (lo, hi, attr) for lo, hi, attr in ranges if lo is not None or hi is not None
            ]
            status = f.get("status", "open")
            fin = f.get("financial_status", "any")
            ful = f.get("fulfillment_status", "any")

            def match_order(rid: int) -> bool:
                if since is not None and rid <= since:
                    return False
                m = ometa[rid]
                if status == "open" and (m.cancelled or m.closed):
                    return False
                if (status == "closed" and not m.closed) or (
                    status == "cancelled" and not m.cancelled
                ):
                    return False
                for lo, hi, attr in active_o:
                    v = getattr(m, attr)
                    if (lo is not None and v < lo) or (hi is not None and v > hi):
                        return False
                if fin != "any":
                    if fin == "unpaid":
                        if m.financial not in ("authorized", "pending", "partially_paid"):
                            return False
                    elif m.financial != fin:
                        return False
                if ful != "any":
                    wanted = {
                        "shipped": ("fulfilled",),
                        "fulfilled": ("fulfilled",),
                        "partial": ("partial",),
                        "unshipped": (None,),
                        "unfulfilled": (None, "partial"),
                    }[ful]
                    if m.fulfillment not in wanted:
                        return False
                return True

            trivial = (
                status == "any" and not active_o and fin == "any" and ful == "any" and since is None
            )
            match = None if trivial else match_order
            table = otable
        candidates = [i for i in f["ids"] if i in table] if "ids" in f else None
        return table, match, candidates


def _fields(request: Request) -> list[str]:
    raw = request.query_params.get("fields", "")
    return [f.strip() for f in raw.split(",") if f.strip()]


def _pick(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {k: record[k] for k in fields if k in record}


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
