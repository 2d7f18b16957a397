"""The REST side of the fake Shopify: list, count and get endpoints, filters, cursors, limits.

:class:`ShopifyRest` serves ``GET /admin/api/{version}/customers.json``, ``orders.json``, their
``count.json`` and ``{id}.json`` from a :class:`~crmhub.plugins.shopify.fake.FakeShopify`'s
tables, as the Admin REST API does:

- ``limit`` defaults to 50; larger than 250 is clamped to 250 (Shopify answers such a request
  with 250 records, not an error); results are ordered by id;
- filters: ``ids``, ``since_id``, ``created_at_min/max``, ``updated_at_min/max`` (inclusive;
  an offset-less time is shop-local), and for orders ``processed_at_min/max``, ``status``
  (default ``open``), ``financial_status``, ``fulfillment_status``;
- cursor pagination: the ``Link`` header carries ``page_info`` tokens, base64 of a JSON object
  with the resource, the filters, the direction and the anchor id, so a token fully decides
  its page; filters next to ``page_info`` are refused with Shopify's wording.

Each page starts with a bisect on the sorted ids and walks only as far as it must.
:class:`LeakyBucket` is Shopify's REST rate limiter.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.core.testing.fake_service import json_response
from crmhub.core.testing.record_table import RecordTable

if TYPE_CHECKING:
    from crmhub.plugins.shopify.fake import FakeShopify

__all__ = ["INVALID_TOKEN", "THROTTLED", "LeakyBucket", "ShopifyRest"]

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


class ShopifyRest:
    """The Admin REST endpoints of one fake shop."""

    def __init__(self, shop: FakeShopify) -> None:
        self.shop = shop

    def routes(self) -> list[Route]:
        """The routes, each wrapped in the shop's guard (auth, bucket, faults)."""
        base = "/admin/api/{version}"
        return [
            self.shop.route(
                base + "/customers/count.json", "customers.count", self._count_customers
            ),
            self.shop.route(base + "/orders/count.json", "orders.count", self._count_orders),
            self.shop.route(base + "/customers.json", "customers.list", self._list_customers),
            self.shop.route(base + "/orders.json", "orders.list", self._list_orders),
            self.shop.route(
                base + "/customers/{rid:int}.json", "customers.get", self._get_customer
            ),
            self.shop.route(base + "/orders/{rid:int}.json", "orders.get", self._get_order),
        ]

    async def _get_customer(self, request: Request) -> Response:
        return self._get_one(self.shop.customers, "customer", request)

    async def _get_order(self, request: Request) -> Response:
        return self._get_one(self.shop.orders, "order", request)

    def _get_one(self, table: RecordTable[Any], key: str, request: Request) -> Response:
        rid = request.path_params["rid"]
        with self.shop.lock:
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
        with self.shop.lock:
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
        with self.shop.lock:
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
                    when = when.replace(tzinfo=self.shop.tz)
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
            ctable = self.shop.customers
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
            otable = self.shop.orders
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
