"""A stateful fake of the WooCommerce REST API v3 on loopback.

``FakeWooCommerce`` keeps customers, orders and webhooks in memory and serves them under the
site root it runs on (``{url}/wp-json/wc/v3/...``) through :mod:`.fake_rest`. Requests are
authenticated as WooCommerce does it:

- HTTP Basic with the consumer key and secret, or the ``consumer_key``/``consumer_secret``
  query fallback (``allow_basic=False`` refuses both, as WooCommerce does over plain HTTP);
- OAuth 1.0a one-legged when the query carries ``oauth_*`` parameters (:mod:`.fake_auth`);
- no credentials: 401 ``woocommerce_rest_cannot_view``; a wrong key or secret: 401
  ``woocommerce_rest_authentication_error`` with WooCommerce's messages.

Records have the v3 shapes (:mod:`.fake_data`), with site-local and ``_gmt`` dates. The
webhook registry and sender (:mod:`.fake_webhooks`) reproduce WooCommerce's PHP: compact
``wp_json_encode`` bodies, ``X-WC-Webhook-*`` headers, no retries, self-disabling on the 7th
consecutive failure, and pings. Mutations are thread-safe and stamp ``date_modified`` from
:attr:`FakeWooCommerce.clock`; ``fake.faults`` and ``fake.counters`` work as for every fake.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.core.testing.catalog import Product, pick_lines
from crmhub.core.testing.fake_controls import Clock, FaultPlan
from crmhub.core.testing.fake_service import FakeService
from crmhub.core.testing.people import Address, Person, generate_people
from crmhub.core.testing.record_table import RecordTable
from crmhub.plugins.woocommerce.fake_auth import OAuthVerifier
from crmhub.plugins.woocommerce.fake_data import (
    CustomerMeta,
    OrderMeta,
    add_refund,
    build_customer,
    build_order,
    customer_meta,
    generate_orders,
    order_meta,
    set_dates,
)
from crmhub.plugins.woocommerce.fake_rest import WooRest, wc_error
from crmhub.plugins.woocommerce.fake_webhooks import WebhookRegistry, WooDelivery, WooWebhook

__all__ = ["FakeWooCommerce"]


class FakeWooCommerce(FakeService):
    """In-memory WooCommerce store serving REST API v3 (see the module docstring).

    :param consumer_key: expected consumer key (``ck_…``).
    :param consumer_secret: its secret (``cs_…``).
    :param timezone: IANA name of the site's time zone (non-GMT dates use it).
    :param currency: store currency.
    :param site_url: site root announced in webhooks; defaults to the served URL.
    :param allow_basic: False refuses Basic auth, as WooCommerce does over plain HTTP.
    :param key_permissions: the API key's permissions, ``read``, ``write`` or ``read_write``;
        a request the key may not make gets WooCommerce's 401.
    :param clock: the fake's clock; :param faults: initial fault plan.
    """

    def __init__(
        self,
        *,
        consumer_key: str = "ck_test_0123456789abcdef0123456789abcdef01234567",
        consumer_secret: str = "cs_test_0123456789abcdef0123456789abcdef01234567",
        timezone: str = "Europe/Berlin",
        currency: str = "EUR",
        site_url: str | None = None,
        allow_basic: bool = True,
        key_permissions: str = "read_write",
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.tz: tzinfo = ZoneInfo(timezone)
        self.currency = currency
        self.allow_basic = allow_basic
        self.key_permissions = key_permissions
        self._site_url = site_url
        self.oauth = OAuthVerifier(consumer_key, consumer_secret, time.time)
        self.customers: RecordTable[CustomerMeta] = RecordTable()
        self.orders: RecordTable[OrderMeta] = RecordTable()
        self.deleted_customers: dict[int, datetime] = {}
        self.deleted_orders: dict[int, datetime] = {}
        self.webhooks = WebhookRegistry(lambda: self.site_url, self.now)
        self._next_customer = 2
        self._next_post = 700
        self._next_item = 300
        self._rng = random.Random(4242)

    @property
    def site_url(self) -> str:
        """The site root: the configured one, else the served URL."""
        if self._site_url:
            return self._site_url.rstrip("/")
        return self.server.url if self.server is not None else "http://127.0.0.1"

    def _post_id(self) -> int:
        self._next_post += 1
        return self._next_post

    def _item_ids(self, n: int) -> list[int]:
        start = self._next_item + 1
        self._next_item += n
        return list(range(start, start + n))

    # == data =====================================================================================

    def seed(
        self,
        n_customers: int = 50,
        n_orders: int = 150,
        *,
        guest_share: float = 0.15,
        seed: int = 0,
        people: Sequence[Person] | None = None,
    ) -> None:
        """Add an admin user (once), ``n_customers`` customers and ``n_orders`` orders of a year.

        :param people: use these people as customers (e.g. an overlap shared with Shopify).
        """
        rng = random.Random(seed)
        now = self.now()
        people = (
            list(people) if people is not None else generate_people(n_customers, seed=seed + 101)
        )
        known = {p.email_normalized for p in people}
        guests = [
            g
            for g in generate_people(max(10, int(n_orders * guest_share)), seed=seed + 9001)
            if g.email_normalized not in known
        ]
        with self.lock:
            if 1 not in self.customers:
                admin = generate_people(1, seed=seed + 1)[0]
                record = build_customer(
                    1, admin, now - timedelta(days=900), self.tz, role="administrator"
                )
                self.customers.put(1, record, customer_meta(record))
            created = sorted(
                (now - timedelta(days=rng.uniform(0, 420)), i) for i in range(len(people))
            )
            triples: list[tuple[int, Person, datetime]] = []
            for when, index in created:
                cid = self._next_customer
                self._next_customer += 1
                role = "subscriber" if rng.random() < 0.03 else "customer"
                record = build_customer(cid, people[index], when, self.tz, role=role)
                self.customers.put(cid, record, customer_meta(record))
                triples.append((cid, people[index], when))

            def next_id() -> int:
                return self._post_id()

            orders = generate_orders(
                rng,
                next_id=next_id,
                customers=triples,
                guests=guests,
                n_orders=n_orders,
                guest_share=guest_share,
                now=now,
                tz=self.tz,
                currency=self.currency,
            )
            paying: dict[int, float] = {}
            for order in orders:
                self.orders.put(order["id"], order, order_meta(order))
                if order["customer_id"] and order["status"] in ("processing", "completed"):
                    paying[order["customer_id"]] = max(
                        paying.get(order["customer_id"], 0.0), self.orders.meta[order["id"]].created
                    )
            self._next_item = max(self._next_item, self._next_post)
            for cid, last in paying.items():
                record = self.customers.get(cid)
                record["is_paying_customer"] = True
                set_dates(
                    record, "date_modified", datetime.fromtimestamp(last, timezone.utc), self.tz
                )
                self.customers.put(cid, record, customer_meta(record))

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
        """All customer (user) ids, ascending, the admin included."""
        with self.lock:
            return list(self.customers.ids)

    @property
    def order_ids(self) -> list[int]:
        """All order ids, ascending (trashed ones included)."""
        with self.lock:
            return list(self.orders.ids)

    def add_customer(
        self, person: Person | None = None, *, role: str = "customer", **fields: Any
    ) -> dict[str, Any]:
        """Register a customer now; ``fields`` override the generated values."""
        person = person or generate_people(1, seed=self._rng.randrange(1 << 30))[0]
        with self.lock:
            cid = self._next_customer
            self._next_customer += 1
            record = build_customer(cid, person, self.now(), self.tz, role=role)
            record.update(fields)
            self.customers.put(cid, record, customer_meta(record))
            return record

    def update_customer(self, customer_id: int, **fields: Any) -> dict[str, Any]:
        """Change a customer; ``date_modified`` moves to now."""
        with self.lock:
            record = self.customers.get(customer_id)
            record.update(fields)
            set_dates(record, "date_modified", self.now(), self.tz)
            self.customers.put(customer_id, record, customer_meta(record))
            return record

    def delete_customer(self, customer_id: int) -> None:
        """Delete a customer (remembered in :attr:`deleted_customers`)."""
        with self.lock:
            self.customers.remove(customer_id)
            self.deleted_customers[customer_id] = self.now()

    def add_order(
        self,
        customer_id: int = 0,
        *,
        person: Person | None = None,
        lines: Sequence[tuple[Product, int]] | None = None,
        status: str = "processing",
        created_at: datetime | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Place an order now for a customer (or a guest with ``customer_id=0``)."""
        with self.lock:
            if person is None:
                if customer_id:
                    person = _person_of(self.customers.get(customer_id))
                else:
                    person = generate_people(1, seed=self._rng.randrange(1 << 30))[0]
            chosen = list(lines or pick_lines(self._rng))
            order = build_order(
                self._post_id(),
                person=person,
                customer_id=customer_id,
                lines=chosen,
                created=created_at or self.now(),
                tz=self.tz,
                currency=self.currency,
                status=status,
                line_ids=self._item_ids(len(chosen) + 1),
            )
            if status == "completed":
                set_dates(order, "date_completed", self.now(), self.tz)
            order.update(fields)
            self.orders.put(order["id"], order, order_meta(order))
            if customer_id and customer_id in self.customers:
                paying = status in ("processing", "completed")
                self.update_customer(
                    customer_id, **({"is_paying_customer": True} if paying else {})
                )
            return order

    def update_order(self, order_id: int, **fields: Any) -> dict[str, Any]:
        """Change an order; ``date_modified`` moves to now (completing sets ``date_completed``)."""
        with self.lock:
            order = self.orders.get(order_id)
            if fields.get("status") == "completed" and order["status"] != "completed":
                set_dates(order, "date_completed", self.now(), self.tz)
            if fields.get("status") in ("processing", "completed") and not order.get("date_paid"):
                set_dates(order, "date_paid", self.now(), self.tz)
            order.update(fields)
            set_dates(order, "date_modified", self.now(), self.tz)
            self.orders.put(order_id, order, order_meta(order))
            return order

    def refund_order(
        self, order_id: int, amount: Decimal | str | None = None, reason: str = ""
    ) -> dict[str, Any]:
        """Refund ``amount`` (default: what is left); a full refund sets status ``refunded``."""
        with self.lock:
            order = self.orders.get(order_id)
            refunded = -sum((Decimal(r["total"]) for r in order["refunds"]), Decimal(0))
            left = Decimal(order["total"]) - refunded
            value = Decimal(amount) if amount is not None else left
            refund = add_refund(order, self._post_id(), value, reason)
            if value >= left:
                order["status"] = "refunded"
            set_dates(order, "date_modified", self.now(), self.tz)
            self.orders.put(order_id, order, order_meta(order))
            return refund

    def delete_order(self, order_id: int, *, force: bool = False) -> None:
        """Trash an order (status ``trash``), or with ``force`` delete it for good."""
        with self.lock:
            if force:
                self.orders.remove(order_id)
                self.deleted_orders[order_id] = self.now()
            else:
                self.update_order(order_id, status="trash")

    # == webhooks =================================================================================

    def create_webhook(
        self,
        topic: str,
        delivery_url: str,
        *,
        secret: str | None = None,
        name: str = "",
        status: str = "active",
        ping: bool = False,
    ) -> WooWebhook:
        """Register a webhook (as the admin or ``POST /webhooks`` does); optionally ping it."""
        hook = self.webhooks.create(name, topic, delivery_url, secret=secret, status=status)
        if ping:
            self.webhooks.ping(hook.id)
        return hook

    def webhook(self, webhook_id: int) -> WooWebhook:
        """The registered webhook (status, ``failure_count``, secret …)."""
        return self.webhooks.webhooks[webhook_id]

    def deliver(self, webhook_id: int, topic: str | None, payload: Any) -> httpx.Response | None:
        """Deliver once, no retries; None when not sent (webhook not active) or unanswered."""
        return self.webhooks.deliver(webhook_id, topic, payload)

    def ping(self, webhook_id: int) -> tuple[bool, str | None]:
        """Ping the delivery URL (``webhook_id=N`` form body); (ok, error)."""
        return self.webhooks.ping(webhook_id)

    @property
    def deliveries(self) -> list[WooDelivery]:
        """Every delivery and ping attempted so far."""
        return self.webhooks.deliveries

    def webhook_payload(self, topic: str, resource_id: int) -> dict[str, Any]:
        """Payload for ``topic``: the REST resource, or only ``{"id": N}`` for ``*.deleted``."""
        resource, _, event = topic.partition(".")
        if event == "deleted":
            return {"id": resource_id}
        with self.lock:
            if resource == "order":
                return self.orders.get(resource_id)
            if resource == "customer":
                return self.customers.get(resource_id)
        raise ValueError(f"unsupported topic {topic!r}")

    # == HTTP: plumbing ===========================================================================

    def routes(self) -> list[Route]:
        """The REST routes (see :class:`~crmhub.plugins.woocommerce.fake_rest.WooRest`)."""
        return WooRest(self).routes()

    def check_auth(self, request: Request) -> Response | None:
        """OAuth 1.0a when ``oauth_*`` parameters are present, else Basic / query credentials;
        then the key's read/write permissions."""
        problem = self._authenticate(request)
        if problem is not None:
            return problem
        reading = request.method in ("GET", "HEAD")
        if self.key_permissions not in ("read_write", "read" if reading else "write"):
            kind = "read" if reading else "write"
            return wc_error(
                "woocommerce_rest_authentication_error",
                f"The API key provided does not have {kind} permissions.",
                401,
            )
        return None

    def _authenticate(self, request: Request) -> Response | None:
        items = request.query_params.multi_items()
        if any(k.startswith("oauth_") for k, _ in items):
            url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
            problem = self.oauth.verify(request.method, url, items)
            return None if problem is None else wc_error(problem[0], problem[1], 401)
        key = secret = None
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic ") and self.allow_basic:
            try:
                key, _, secret = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                key = secret = None
        elif "consumer_key" in request.query_params and self.allow_basic:
            key, secret = (
                request.query_params["consumer_key"],
                request.query_params.get("consumer_secret", ""),
            )
        if key is None:
            return wc_error(
                "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401
            )
        if not hmac.compare_digest(key.encode(), self.consumer_key.encode()):
            return wc_error(
                "woocommerce_rest_authentication_error", "Consumer key is invalid.", 401
            )
        if not hmac.compare_digest((secret or "").encode(), self.consumer_secret.encode()):
            return wc_error(
                "woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401
            )
        return None

    def fault_response(self, status: int) -> Response:
        """WordPress-style bodies for injected errors (a fatal error page for 500)."""
        if status == 500:
            return wc_error(
                "internal_server_error",
                "<p>There has been a critical error on this website.</p>",
                500,
            )
        return super().fault_response(status)


def _person_of(customer: dict[str, Any]) -> Person:
    """A Person carrying a customer's billing details (for orders that customer places)."""
    b = customer.get("billing") or {}
    address = Address(
        b.get("address_1", ""),
        b.get("address_2", ""),
        b.get("city", ""),
        b.get("state", ""),
        b.get("state", ""),
        b.get("postcode", ""),
        b.get("country", ""),
        b.get("country", ""),
    )
    return Person(
        customer["id"],
        customer.get("first_name", ""),
        customer.get("last_name", ""),
        b.get("email") or customer.get("email", ""),
        b.get("phone") or None,
        None,
        None,
        address,
        (),
        b.get("company") or None,
        False,
    )
