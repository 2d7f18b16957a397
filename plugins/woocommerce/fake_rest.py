"""The REST side of the fake WooCommerce: customers, orders and webhooks under ``/wp-json/wc/v3``.

:class:`WooRest` serves a :class:`~crmhub.plugins.woocommerce.fake.FakeWooCommerce`'s data the
way WordPress and WooCommerce do:

- ``_fields`` (WordPress's global parameter) keeps only the named top-level fields;
- ``page`` (1-based), ``per_page`` (default 10; 1–100, otherwise 400 ``rest_invalid_param``
  as WordPress validates it), ``offset``; ``X-WP-Total``, ``X-WP-TotalPages`` and a ``Link``
  header with ``rel="prev"``/``rel="next"`` (credentials and ``oauth_*`` parameters left out);
- ``/orders``: ``after``/``before`` (``date_created``) and ``modified_after``/``modified_before``
  (``date_modified``), all exclusive as WP_Query's date query, read in the site's time zone
  unless ``dates_are_gmt=true`` or the value has an offset; ``status`` (list, default ``any`` =
  all but ``trash``), ``customer``, ``include``, ``exclude``, ``orderby``
  (``date|id|include|title|slug``), ``order`` (default ``desc``);
- ``/customers``: only ``search``, ``email``, ``role`` (default ``customer``), ``include``,
  ``exclude``, ``orderby`` (``id|include|name|registered_date``, default ``name``), ``order``
  (default ``asc``); date parameters such as ``modified_after`` are ignored, as the real
  endpoint ignores them (woocommerce#31482);
- ``/webhooks``: list, get, create (pings when active), update (``PUT``) and delete.

A filtered, sorted id list is computed once per query and data version, then sliced per page.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import OrderedDict
from datetime import timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.core.testing.fake_service import json_response
from crmhub.core.testing.record_table import RecordTable
from crmhub.plugins.woocommerce.fake_data import ORDER_STATUSES, parse_wc_date

if TYPE_CHECKING:
    from crmhub.plugins.woocommerce.fake import FakeWooCommerce

__all__ = ["WooRest", "wc_error"]

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


def wc_error(code: str, message: str, status: int, **data: Any) -> Response:
    return json_response(
        {"code": code, "message": message, "data": {"status": status, **data}}, status
    )


def _invalid(err: _InvalidParam) -> Response:
    return wc_error(
        "rest_invalid_param",
        f"Invalid parameter(s): {err.param}",
        400,
        params={err.param: err.message},
        details={err.param: {"code": err.code, "message": err.message, "data": None}},
    )


class WooRest:
    """The REST endpoints of one fake store."""

    def __init__(self, store: FakeWooCommerce) -> None:
        self.store = store
        self._cache: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()

    def routes(self) -> list[Route]:
        """The routes, each wrapped in the store's guard (auth, faults, counters)."""
        return [
            self.store.route(API + "/customers", "customers.list", self._list_customers),
            self.store.route(API + "/customers/{rid:int}", "customers.get", self._get_customer),
            self.store.route(API + "/orders", "orders.list", self._list_orders),
            self.store.route(API + "/orders/{rid:int}", "orders.get", self._get_order),
            self.store.route(API + "/webhooks", "webhooks.list", self._list_webhooks, ("GET",)),
            self.store.route(API + "/webhooks", "webhooks.create", self._create_webhook, ("POST",)),
            self.store.route(
                API + "/webhooks/{rid:int}",
                "webhooks.item",
                self._webhook_item,
                ("GET", "PUT", "DELETE"),
            ),
        ]

    # == HTTP: resources ==========================================================================

    async def _get_customer(self, request: Request) -> Response:
        return self._get_one(
            self.store.customers, request, "woocommerce_rest_invalid_id", "Invalid resource ID."
        )

    async def _get_order(self, request: Request) -> Response:
        return self._get_one(
            self.store.orders, request, "woocommerce_rest_shop_order_invalid_id", "Invalid ID."
        )

    def _get_one(
        self, table: RecordTable[Any], request: Request, code: str, message: str
    ) -> Response:
        rid = request.path_params["rid"]
        with self.store.lock:
            if rid not in table:
                return wc_error(code, message, 404)
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
        with self.store.lock:
            table: RecordTable[Any] = (
                self.store.orders if resource == "orders" else self.store.customers
            )
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
        fields = _list_param(q, "_fields")
        if fields:  # WordPress's global _fields: only these top-level fields of each record
            body = json.dumps(
                [{k: v for k, v in item.items() if k in fields} for item in json.loads(body)],
                separators=(",", ":"),
            ).encode()
        return json_response(None, headers=headers, raw=body)

    def _order_query(self, q: Any) -> tuple[Any, ...]:
        gmt = _bool_param(q, "dates_are_gmt")
        zone = timezone.utc if gmt else self.store.tz
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
        meta = self.store.orders.meta
        wanted = None if "any" in statuses else set(statuses)
        excluded = set(exclude)
        after = dict(bounds)
        a, b = after.get("after"), after.get("before")
        ma, mb = after.get("modified_after"), after.get("modified_before")
        pool = [i for i in include if i in self.store.orders] if include else self.store.orders.ids
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
        elif orderby == "id":
            out.sort()  # an include list comes in its own order otherwise
        elif orderby == "include" and include:
            position = {rid: n for n, rid in enumerate(include)}
            out.sort(key=lambda r: position[r])
        if order == "desc" and not (orderby == "include" and include):
            out.reverse()
        return out

    def _run_customers(self, key: tuple[Any, ...]) -> list[int]:
        search, email, role, include, exclude, orderby, order = key
        meta = self.store.customers.meta
        excluded = set(exclude)
        pool = (
            [i for i in include if i in self.store.customers]
            if include
            else self.store.customers.ids
        )
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
        elif orderby == "id":
            out.sort()  # an include list comes in its own order otherwise
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
            h.as_json(self.store.tz, self.store.site_url)
            for h in self.store.webhooks.webhooks.values()
            if status == "all" or h.status == status
        ]
        return json_response(hooks, headers={"X-WP-Total": str(len(hooks)), "X-WP-TotalPages": "1"})

    async def _create_webhook(self, request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not body.get("delivery_url"):
            return wc_error(
                "rest_missing_callback_param",
                "Missing parameter(s): delivery_url",
                400,
                params=["delivery_url"],
            )
        if not body.get("topic"):
            return wc_error(
                "rest_missing_callback_param", "Missing parameter(s): topic", 400, params=["topic"]
            )
        try:
            hook = self.store.webhooks.create(
                body.get("name") or "",
                body["topic"],
                body["delivery_url"],
                secret=body.get("secret"),
                status=body.get("status", "active"),
            )
        except ValueError as exc:
            return wc_error("woocommerce_rest_webhook_invalid_topic", str(exc), 400)
        if hook.status == "active":
            await asyncio.to_thread(self.store.webhooks.ping, hook.id)
        return json_response(hook.as_json(self.store.tz, self.store.site_url), 201)

    async def _webhook_item(self, request: Request) -> Response:
        rid = request.path_params["rid"]
        if rid not in self.store.webhooks.webhooks:
            return wc_error("woocommerce_rest_webhook_invalid_id", "Invalid webhook ID.", 404)
        if request.method == "PUT":
            body = await _json_body(request)
            if not isinstance(body, dict):
                return wc_error("rest_invalid_json", "Invalid JSON body passed.", 400)
            try:
                self.store.webhooks.update(
                    rid,
                    **{
                        k: body[k]
                        for k in ("status", "name", "topic", "delivery_url", "secret")
                        if k in body
                    },
                )
            except ValueError as exc:
                return wc_error("rest_invalid_param", str(exc), 400)
        elif request.method == "DELETE":
            if not _bool_param(request.query_params, "force"):
                return wc_error(
                    "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", 501
                )
            hook = self.store.webhooks.delete(rid)
            return json_response(hook.as_json(self.store.tz, self.store.site_url))
        return json_response(
            self.store.webhooks.webhooks[rid].as_json(self.store.tz, self.store.site_url)
        )


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
