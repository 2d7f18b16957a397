"""A stateful fake of the WooCommerce REST API v3 on loopback.

``FakeWooCommerce`` keeps customers, orders and webhooks in memory and serves them under the
site root it runs on (``{url}/wp-json/wc/v3/...``), as WordPress and WooCommerce do:

- auth: HTTP Basic with the consumer key and secret (or the ``consumer_key`` /
  ``consumer_secret`` query fallback), or OAuth 1.0a one-legged when the query carries
  ``oauth_*`` parameters (see :mod:`crmhub.plugins.woocommerce.fake_auth`). No credentials
  gives 401 ``woocommerce_rest_cannot_view``; a wrong key or secret 401
  ``woocommerce_rest_authentication_error``, with WooCommerce's messages;
- pagination: ``page`` (1-based), ``per_page`` (default 10; 1–100, otherwise 400
  ``rest_invalid_param`` as WordPress validates it), ``offset``; ``X-WP-Total``,
  ``X-WP-TotalPages`` and a ``Link`` header with ``rel="prev"``/``rel="next"`` (credentials
  and ``oauth_*`` parameters are left out of those links);
- ``/orders`` filters ``after``, ``before`` (on ``date_created``), ``modified_after``,
  ``modified_before`` (on ``date_modified``; all four exclusive, as WP_Query's date query),
  interpreted in the *site* time zone unless ``dates_are_gmt=true`` or the value carries an
  offset; ``status`` (list; default ``any`` = everything but ``trash``), ``customer``,
  ``include``, ``orderby`` (``date|id|include|title|slug``), ``order`` (default ``desc``);
- ``/customers`` filters only ``search``, ``email``, ``role`` (default ``customer``),
  ``include``, ``exclude``, ``orderby`` (``id|include|name|registered_date``, default
  ``name``), ``order`` (default ``asc``). ``modified_after`` and other date parameters are
  silently ignored, as the real endpoint does (woocommerce#31482);
- ``/webhooks``: list, get, create (``POST``; pings the delivery URL when active), update
  (``PUT``, e.g. the status) and delete; deliveries as in
  :mod:`crmhub.plugins.woocommerce.fake_webhooks`.

A filtered result list is computed once per query and data version and then sliced, so
paging through 200,000 orders does not rescan them per page.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import math
import random
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone, tzinfo
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
from crmhub.plugins.woocommerce.fake_auth import OAuthVerifier
from crmhub.plugins.woocommerce.fake_data import (
    ORDER_STATUSES,
    CustomerMeta,
    OrderMeta,
    add_refund,
    build_customer,
    build_order,
    customer_meta,
    generate_orders,
    order_meta,
    parse_wc_date,
    set_dates,
)
from crmhub.plugins.woocommerce.fake_webhooks import WebhookRegistry, WooDelivery, WooWebhook
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["FakeWooCommerce"]

API = "/wp-json/wc/v3"
ROLES = (
    "all",
    "administrator",
    "editor",
    "author",
    "contributor",
    "subscriber",
    "customer",
    "shop_manager",
)
ORDER_ORDERBY = ("date", "id", "include", "title", "slug")
CUSTOMER_ORDERBY = ("id", "include", "name", "registered_date")
_CREDENTIAL_PARAMS = ("consumer_key", "consumer_secret")


class _InvalidParam(Exception):
    def __init__(self, param: str, message: str, code: str = "rest_invalid_param") -> None:
        super().__init__(message)
        self.param, self.message, self.code = param, message, code


def _wc_error(code: str, message: str, status: int, **data: Any) -> Response:
    return json_response(
        {"code": code, "message": message, "data": {"status": status, **data}}, status
    )


def _invalid(err: _InvalidParam) -> Response:
    return _wc_error(
        "rest_invalid_param",
        f"Invalid parameter(s): {err.param}",
        400,
        params={err.param: err.message},
        details={err.param: {"code": err.code, "message": err.message, "data": None}},
    )


class FakeWooCommerce(FakeService):
    """In-memory WooCommerce store serving REST API v3 (see the module docstring).

    :param consumer_key: expected consumer key (``ck_…``).
    :param consumer_secret: its secret (``cs_…``).
    :param timezone: IANA name of the site's time zone (non-GMT dates use it).
    :param currency: store currency.
    :param site_url: site root announced in webhooks; defaults to the served URL.
    :param allow_basic: False refuses Basic auth, as WooCommerce does over plain HTTP.
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
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.tz: tzinfo = ZoneInfo(timezone)
        self.currency = currency
        self.allow_basic = allow_basic
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
        self._cache: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()

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
            self._next_item = max(self._next_item, self._next_post)
            paying: dict[int, float] = {}
            for order in orders:
                self.orders.put(order["id"], order, order_meta(order))
                if order["customer_id"] and order["status"] in ("processing", "completed"):
                    paying[order["customer_id"]] = max(
                        paying.get(order["customer_id"], 0.0), self.orders.meta[order["id"]].created
                    )
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
        """The REST routes under ``/wp-json/wc/v3``."""
        return [
            self.route(API + "/customers", "customers.list", self._list_customers),
            self.route(API + "/customers/{rid:int}", "customers.get", self._get_customer),
            self.route(API + "/orders", "orders.list", self._list_orders),
            self.route(API + "/orders/{rid:int}", "orders.get", self._get_order),
            self.route(API + "/webhooks", "webhooks.list", self._list_webhooks, ("GET",)),
            self.route(API + "/webhooks", "webhooks.create", self._create_webhook, ("POST",)),
            self.route(
                API + "/webhooks/{rid:int}",
                "webhooks.item",
                self._webhook_item,
                ("GET", "PUT", "DELETE"),
            ),
        ]

    def check_auth(self, request: Request) -> Response | None:
        """OAuth 1.0a when ``oauth_*`` parameters are present, else Basic / query credentials."""
        items = request.query_params.multi_items()
        if any(k.startswith("oauth_") for k, _ in items):
            url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
            problem = self.oauth.verify(request.method, url, items)
            return None if problem is None else _wc_error(problem[0], problem[1], 401)
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
            return _wc_error(
                "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.", 401
            )
        if not hmac.compare_digest(key.encode(), self.consumer_key.encode()):
            return _wc_error(
                "woocommerce_rest_authentication_error", "Consumer key is invalid.", 401
            )
        if not hmac.compare_digest((secret or "").encode(), self.consumer_secret.encode()):
            return _wc_error(
                "woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401
            )
        return None

    def fault_response(self, status: int) -> Response:
        """WordPress-style bodies for injected errors (a fatal error page for 500)."""
        if status == 500:
            return _wc_error(
                "internal_server_error",
                "<p>There has been a critical error on this website.</p>",
                500,
            )
        return super().fault_response(status)

    # == HTTP: resources ==========================================================================

    async def _get_customer(self, request: Request) -> Response:
        return self._get_one(
            self.customers, request, "woocommerce_rest_invalid_id", "Invalid resource ID."
        )

    async def _get_order(self, request: Request) -> Response:
        return self._get_one(
            self.orders, request, "woocommerce_rest_shop_order_invalid_id", "Invalid ID."
        )

    def _get_one(
        self, table: RecordTable[Any], request: Request, code: str, message: str
    ) -> Response:
        rid = request.path_params["rid"]
        with self.lock:
            if rid not in table:
                return _wc_error(code, message, 404)
            return json_response(None, raw=table.raw(rid))

    async def _list_customers(self, request: Request) -> Response:
        return self._list(request, "customers")

    async def _list_orders(self, request: Request) -> Response:
        return self._list(request, "orders")

    def _list(self, request: Request, resource: str) -> Response:
        q = request.query_params
        try:
            page = _int_param(q, "page", 1, minimum=1)
            per_page = _int_param(q, "per_page", 10, minimum=1, maximum=100)
            offset = _int_param(q, "offset", None, minimum=0) if "offset" in q else None
            key = self._order_query(q) if resource == "orders" else self._customer_query(q)
        except _InvalidParam as err:
            return _invalid(err)
        with self.lock:
            table: RecordTable[Any] = self.orders if resource == "orders" else self.customers
            cache_key = (resource, table.version, key)
            ids = self._cache.get(cache_key)
            if ids is None:
                ids = self._run_orders(key) if resource == "orders" else self._run_customers(key)
                self._cache[cache_key] = ids
                while len(self._cache) > 32:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(cache_key)
            start = offset if offset is not None else (page - 1) * per_page
            chunk = ids[start : start + per_page]
            body = b"[" + table.join(chunk) + b"]"
        total = len(ids)
        pages = math.ceil(total / per_page) if total else 0
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        links = []
        base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        kept = [
            (k, v)
            for k, v in q.multi_items()
            if k != "page" and not k.startswith("oauth_") and k not in _CREDENTIAL_PARAMS
        ]
        if page > 1 and offset is None:
            links.append(
                f"<{base}?{urlencode(kept + [('page', str(min(page - 1, max(pages, 1))))])}>;"
                ' rel="prev"'
            )
        if page < pages and offset is None:
            links.append(f'<{base}?{urlencode(kept + [("page", str(page + 1))])}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        return json_response(None, headers=headers, raw=body)

    def _order_query(self, q: Any) -> tuple[Any, ...]:
        gmt = _bool_param(q, "dates_are_gmt")
        zone = timezone.utc if gmt else self.tz
        bounds = []
        for name in ("after", "before", "modified_after", "modified_before"):
            if q.get(name):
                try:
                    bounds.append((name, parse_wc_date(q[name], zone).timestamp()))
                except ValueError:
                    raise _InvalidParam(name, "Invalid date.", "rest_invalid_date") from None
        statuses = _list_param(q, "status") or ["any"]
        for status in statuses:
            if status != "any" and status not in ORDER_STATUSES:
                raise _InvalidParam(
                    "status",
                    f"status[0] is not one of any, {', '.join(ORDER_STATUSES)}.",
                    "rest_not_in_enum",
                )
        customer = _int_param(q, "customer", None, minimum=0) if "customer" in q else None
        include = tuple(_int_list(q, "include"))
        exclude = tuple(_int_list(q, "exclude"))
        orderby = q.get("orderby", "date")
        if orderby not in ORDER_ORDERBY:
            raise _InvalidParam(
                "orderby", f"orderby is not one of {', '.join(ORDER_ORDERBY)}.", "rest_not_in_enum"
            )
        order = _order_param(q, "desc")
        return (tuple(bounds), tuple(sorted(statuses)), customer, include, exclude, orderby, order)

    def _customer_query(self, q: Any) -> tuple[Any, ...]:
        role = q.get("role", "customer")
        if role not in ROLES:
            raise _InvalidParam(
                "role", f"role is not one of {', '.join(ROLES)}.", "rest_not_in_enum"
            )
        orderby = q.get("orderby", "name")
        if orderby not in CUSTOMER_ORDERBY:
            raise _InvalidParam(
                "orderby",
                f"orderby is not one of {', '.join(CUSTOMER_ORDERBY)}.",
                "rest_not_in_enum",
            )
        return (
            (q.get("search") or "").strip().lower(),
            (q.get("email") or "").strip().lower(),
            role,
            tuple(_int_list(q, "include")),
            tuple(_int_list(q, "exclude")),
            orderby,
            _order_param(q, "asc"),
        )

    def _run_orders(self, key: tuple[Any, ...]) -> list[int]:
        bounds, statuses, customer, include, exclude, orderby, order = key
        meta = self.orders.meta
        wanted = None if "any" in statuses else set(statuses)
        excluded = set(exclude)
        after = dict(bounds)
        a, b = after.get("after"), after.get("before")
        ma, mb = after.get("modified_after"), after.get("modified_before")
        pool = [i for i in include if i in self.orders] if include else self.orders.ids
        out = []
        for rid in pool:
            m = meta[rid]
            if wanted is None:
                if m.status == "trash":
                    continue
            elif m.status not in wanted:
                continue
            if customer is not None and m.customer_id != customer:
                continue
            if rid in excluded:
                continue
            if (a is not None and m.created <= a) or (b is not None and m.created >= b):
                continue
            if (ma is not None and m.modified <= ma) or (mb is not None and m.modified >= mb):
                continue
            out.append(rid)
        if orderby in ("date", "title"):
            out.sort(key=lambda r: (meta[r].created, r))
        elif orderby == "include" and include:
            position = {rid: n for n, rid in enumerate(include)}
            out.sort(key=lambda r: position[r])
        if order == "desc" and not (orderby == "include" and include):
            out.reverse()
        return out

    def _run_customers(self, key: tuple[Any, ...]) -> list[int]:
        search, email, role, include, exclude, orderby, order = key
        meta = self.customers.meta
        excluded = set(exclude)
        pool = [i for i in include if i in self.customers] if include else self.customers.ids
        out = []
        for rid in pool:
            m = meta[rid]
            if role != "all" and m.role != role:
                continue
            if email and m.email != email:
                continue
            if search and search.strip("*") not in m.haystack:
                continue
            if rid in excluded:
                continue
            out.append(rid)
        if orderby == "name":
            out.sort(key=lambda r: (meta[r].name, r))
        elif orderby == "registered_date":
            out.sort(key=lambda r: (meta[r].created, r))
        elif orderby == "include" and include:
            position = {rid: n for n, rid in enumerate(include)}
            out.sort(key=lambda r: position[r])
        if order == "desc":
            out.reverse()
        return out

    # == HTTP: webhooks ===========================================================================

    async def _list_webhooks(self, request: Request) -> Response:
        status = request.query_params.get("status", "all")
        hooks = [
            h.as_json(self.tz, self.site_url)
            for h in self.webhooks.webhooks.values()
            if status == "all" or h.status == status
        ]
        return json_response(hooks, headers={"X-WP-Total": str(len(hooks)), "X-WP-TotalPages": "1"})

    async def _create_webhook(self, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not body.get("delivery_url"):
            return _wc_error(
                "rest_missing_callback_param",
                "Missing parameter(s): delivery_url",
                400,
                params=["delivery_url"],
            )
        if not body.get("topic"):
            return _wc_error(
                "rest_missing_callback_param", "Missing parameter(s): topic", 400, params=["topic"]
            )
        try:
            hook = self.webhooks.create(
                body.get("name") or "",
                body["topic"],
                body["delivery_url"],
                secret=body.get("secret"),
                status=body.get("status", "active"),
            )
        except ValueError as exc:
            return _wc_error("woocommerce_rest_webhook_invalid_topic", str(exc), 400)
        if hook.status == "active":
            await asyncio.to_thread(self.webhooks.ping, hook.id)
        return json_response(hook.as_json(self.tz, self.site_url), 201)

    async def _webhook_item(self, request: Request) -> Response:
        rid = request.path_params["rid"]
        if rid not in self.webhooks.webhooks:
            return _wc_error("woocommerce_rest_webhook_invalid_id", "Invalid webhook ID.", 404)
        if request.method == "PUT":
            body = await _json_body(request)
            if not isinstance(body, dict):
                return _wc_error("rest_invalid_json", "Invalid JSON body passed.", 400)
            try:
                self.webhooks.update(
                    rid,
                    **{
                        k: body[k]
                        for k in ("status", "name", "topic", "delivery_url", "secret")
                        if k in body
                    },
                )
            except ValueError as exc:
                return _wc_error("rest_invalid_param", str(exc), 400)
        elif request.method == "DELETE":
            if not _bool_param(request.query_params, "force"):
                return _wc_error(
                    "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", 501
                )
            hook = self.webhooks.delete(rid)
            return json_response(hook.as_json(self.tz, self.site_url))
        return json_response(self.webhooks.webhooks[rid].as_json(self.tz, self.site_url))


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        return dict(form)
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def _int_param(
    q: Any,
    name: str,
    default: int | None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> Any:
    if name not in q:
        return default
    try:
        value = int(q[name])
    except ValueError:
        raise _InvalidParam(name, f"{name} is not of type integer.", "rest_invalid_type") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is not None:
            message = f"{name} must be between {minimum} (inclusive) and {maximum} (inclusive)"
        else:
            message = f"{name} must be greater than or equal to {minimum}"
        raise _InvalidParam(name, message, "rest_out_of_bounds")
    return value


def _list_param(q: Any, name: str) -> list[str]:
    values = q.getlist(name) + q.getlist(name + "[]")
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _int_list(q: Any, name: str) -> list[int]:
    try:
        return [int(v) for v in _list_param(q, name)]
    except ValueError:
        raise _InvalidParam(
            name, f"{name}[0] is not of type integer.", "rest_invalid_type"
        ) from None


def _bool_param(q: Any, name: str) -> bool:
    return str(q.get(name, "")).lower() in ("1", "true", "yes")


def _order_param(q: Any, default: str) -> str:
    order = q.get("order", default)
    if order not in ("asc", "desc"):
        raise _InvalidParam("order", "order is not one of asc, and desc.", "rest_not_in_enum")
    return order


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
