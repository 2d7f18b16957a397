"""Stateful fake APIs for the HTTP layer tests, served on loopback by the ``serve`` fixture.

* :class:`FakeClock` -- time that moves only when something sleeps on it.
* :class:`ScriptedApi` -- answers each path from a script of responses, then 200; records calls.
* :class:`LeakyBucketApi` -- Shopify's REST bucket: ``X-Shopify-Shop-Api-Call-Limit``, 429s.
* :class:`RollingWindowApi` -- HubSpot's rolling window and ``X-HubSpot-RateLimit-*`` headers.
* :class:`ShopifyCustomers`, :class:`WooCustomers`, :class:`HubSpotContacts` -- paginated lists.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class FakeClock:
    """A clock that only moves when something sleeps on it; records every sleep."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record ``seconds`` and advance the clock by it."""
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        """Let time pass without recording a sleep."""
        self.now += seconds


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class ScriptedApi:
    """Answers ``/{path}`` from ``scripts[path]`` in order, then with 200 ``{"ok": true}``."""

    def __init__(self) -> None:
        self.scripts: dict[str, deque[Reply]] = {}
        self.calls: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    def script(self, path: str, *replies: Reply) -> None:
        """Queue ``replies`` for ``path`` (no leading slash)."""
        self.scripts.setdefault(path, deque()).extend(replies)

    def count(self, path: str) -> int:
        """How many requests reached ``path``."""
        return sum(1 for call in self.calls if call["path"] == path)

    async def handle(self, request: Request) -> Response:
        path = request.path_params["path"]
        self.calls.append(
            {
                "path": path,
                "method": request.method,
                "query": request.url.query,
                "headers": dict(request.headers),
                "body": await request.body(),
            }
        )
        queue = self.scripts.get(path)
        reply = queue.popleft() if queue else Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if isinstance(reply.body, str):
            return Response(reply.body, reply.status, reply.headers)
        return JSONResponse(reply.body, reply.status, reply.headers)


class LeakyBucketApi:
    """Shopify's REST limit: a bucket of ``capacity`` leaking ``leak_per_second``."""

    def __init__(self, capacity: int, leak_per_second: float) -> None:
        self.capacity = capacity
        self.leak = leak_per_second
        self.level = 0.0
        self.stamp = time.monotonic()
        self.served = 0
        self.rejected = 0
        self.max_level = 0.0
        self.app = Starlette(routes=[Route("/{path:path}", self.handle)])

    async def handle(self, request: Request) -> Response:
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.stamp) * self.leak)
        self.stamp = now
        if self.level + 1 > self.capacity:
            self.rejected += 1
            headers = {
                "X-Shopify-Shop-Api-Call-Limit": f"{self.capacity}/{self.capacity}",
                "Retry-After": "1.0",
            }
            return JSONResponse({"errors": "Exceeded 2 calls per second"}, 429, headers)
        self.level += 1
        self.served += 1
        self.max_level = max(self.max_level, self.level)
        used = math.ceil(self.level - 1e-9)
        return JSONResponse(
            {"customers": []}, 200, {"X-Shopify-Shop-Api-Call-Limit": f"{used}/{self.capacity}"}
        )


class RollingWindowApi:
    """HubSpot's limit: ``limit`` requests in any rolling ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.log: deque[float] = deque()
        self.served = 0
        self.rejected = 0
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    async def handle(self, request: Request) -> Response:
        now = time.monotonic()
        while self.log and self.log[0] <= now - self.window:
            self.log.popleft()
        headers = {
            "X-HubSpot-RateLimit-Max": str(self.limit),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window * 1000)),
        }
        if len(self.log) >= self.limit:
            self.rejected += 1
            headers["X-HubSpot-RateLimit-Remaining"] = "0"
            return JSONResponse({"policyName": "SECONDLY"}, 429, headers)
        self.log.append(now)
        self.served += 1
        headers["X-HubSpot-RateLimit-Remaining"] = str(self.limit - len(self.log))
        return JSONResponse({"results": []}, 200, headers)


def _people(count: int) -> list[dict[str, Any]]:
    return [{"id": i, "email": f"person{i}@example.com"} for i in range(1, count + 1)]


class ShopifyCustomers:
    """``GET /admin/api/2024-07/customers.json`` with Link-header (page_info) pagination."""

    path = "/admin/api/2024-07/customers.json"

    def __init__(self, count: int) -> None:
        self.records = _people(count)
        self.queries: list[str] = []
        self.app = Starlette(routes=[Route(self.path, self.handle)])

    async def handle(self, request: Request) -> Response:
        self.queries.append(request.url.query)
        params = request.query_params
        limit = int(params.get("limit", 50))
        if "page_info" in params:
            extra = set(params) - {"page_info", "limit"}
            if extra:
                return JSONResponse(
                    {"errors": f"{min(extra)} cannot be passed when page_info is present"}, 400
                )
            state = json.loads(base64.urlsafe_b64decode(params["page_info"]))
        else:
            state = {"offset": 0, "min_id": int(params.get("since_id", 0))}
        rows = [r for r in self.records if r["id"] > state["min_id"]]
        page = rows[state["offset"] : state["offset"] + limit]
        headers = {}
        if state["offset"] + limit < len(rows):
            token = base64.urlsafe_b64encode(
                json.dumps({"offset": state["offset"] + limit, "min_id": state["min_id"]}).encode()
            ).decode()
            base = str(request.url).split("?")[0]
            headers["Link"] = (
                f'<{base}?page_info={token}&limit={limit}>; rel="next", '
                f'<{base}?page_info=prev&limit={limit}>; rel="previous"'
            )
        return JSONResponse({"customers": page}, 200, headers)


class WooCustomers:
    """``GET /wp-json/wc/v3/customers`` with ``page`` / ``per_page`` and X-WP-Total(Pages)."""

    def __init__(self, count: int) -> None:
        self.records = _people(count)
        self.pages_seen: list[int] = []
        self.app = Starlette(routes=[Route("/wp-json/wc/v3/customers", self.handle)])

    async def handle(self, request: Request) -> Response:
        page = int(request.query_params.get("page", 1))
        per_page = int(request.query_params.get("per_page", 10))
        self.pages_seen.append(page)
        total_pages = math.ceil(len(self.records) / per_page)
        rows = self.records[(page - 1) * per_page : page * per_page]
        return JSONResponse(
            rows, 200, {"X-WP-Total": str(len(self.records)), "X-WP-TotalPages": str(total_pages)}
        )


class HubSpotContacts:
    """``GET /crm/v3/objects/contacts`` and ``POST .../search`` with ``paging.next.after``."""

    def __init__(self, count: int) -> None:
        self.records = _people(count)
        self.afters: list[str | None] = []
        self.app = Starlette(
            routes=[
                Route("/crm/v3/objects/contacts", self.list),
                Route("/crm/v3/objects/contacts/search", self.search, methods=["POST"]),
            ]
        )

    def _page(self, after: str | None, limit: int) -> dict[str, Any]:
        self.afters.append(after)
        start = int(after) if after else 0
        rows = self.records[start : start + limit]
        body: dict[str, Any] = {"results": rows}
        if start + limit < len(self.records):
            body["paging"] = {"next": {"after": str(start + limit), "link": "ignored"}}
        return body

    async def list(self, request: Request) -> Response:
        params = request.query_params
        return JSONResponse(self._page(params.get("after"), int(params.get("limit", 10))))

    async def search(self, request: Request) -> Response:
        body = await request.json()
        return JSONResponse(self._page(body.get("after"), int(body.get("limit", 10))))
