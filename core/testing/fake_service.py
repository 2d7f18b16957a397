"""Base class of the fake remote APIs served on loopback.

A fake declares its routes with :meth:`FakeService.route`; every request then passes the
same guard, in the order a real API gateway applies them:

1. count the request (:class:`~crmhub.core.testing.fake_controls.Counters`);
2. wait the injected latency, if any;
3. authenticate (:meth:`FakeService.check_auth`, 401 on failure);
4. rate-limit (:meth:`FakeService.check_rate`, 429 when the budget is spent);
5. inject a server error (:class:`~crmhub.core.testing.fake_controls.FaultInjector`);
6. run the handler; finally :meth:`FakeService.decorate` adds per-response headers such
   as Shopify's call-limit header or HubSpot's rate-limit headers.

``fake.serve()`` runs ``fake.app`` on a free loopback port (see
:mod:`crmhub.core.testing.loopback`); ``with fake:`` does the same and stops it on exit.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.core.testing.fake_controls import Clock, Counters, FaultInjector, FaultPlan
from crmhub.core.testing.loopback import LoopbackServer, serve_app

__all__ = ["FakeService", "Handler", "json_bytes", "json_response"]

Handler = Callable[[Request], Awaitable[Response]]


def json_bytes(data: Any) -> bytes:
    """Serialise ``data`` compactly as UTF-8 JSON (the form the fakes send and cache)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None, *, raw: bytes | None = None
) -> Response:
    """A JSON response from ``data`` (or from already serialised ``raw`` bytes)."""
    body = raw if raw is not None else json_bytes(data)
    return Response(
        body, status_code=status, headers=headers, media_type="application/json; charset=utf-8"
    )


class FakeService:
    """Common machinery of a fake remote API: clock, faults, counters, guard, serving.

    :param clock: the fake's clock; a wall-clock :class:`Clock` when omitted.
    :param faults: initial fault plan; change it later with ``fake.faults.configure(...)``.
    """

    def __init__(self, *, clock: Clock | None = None, faults: FaultPlan | None = None) -> None:
        self.clock = clock or Clock()
        self.faults = FaultInjector(faults)
        self.counters = Counters()
        self.lock = threading.RLock()
        self.server: LoopbackServer | None = None
        self._app: Starlette | None = None

    # -- time ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        """Current fake time (aware UTC), from :attr:`clock`."""
        return self.clock.now()

    # -- the ASGI app -------------------------------------------------------------------------

    @property
    def app(self) -> Starlette:
        """The Starlette app serving this fake's endpoints (built once, on first use)."""
        if self._app is None:
            self._app = Starlette(routes=list(self.routes()))
        return self._app

    def routes(self) -> Sequence[Route]:
        """Return the fake's routes, each built with :meth:`route`. Subclasses implement it."""
        raise NotImplementedError

    def route(
        self, path: str, endpoint: str, handler: Handler, methods: Sequence[str] = ("GET",)
    ) -> Route:
        """Wrap ``handler`` in the guard (count, latency, auth, rate limit, faults) as a Route."""

        async def guarded(request: Request) -> Response:
            self.counters.hit(endpoint)
            latency = self.faults.latency
            if latency > 0:
                await asyncio.sleep(latency)
            response = self.check_auth(request)
            if response is not None:
                self.counters.add("unauthorized")
                return self._finish(request, endpoint, response)
            response = self.check_rate(request, endpoint)
            if response is not None:
                self.counters.add("throttled")
                return self._finish(request, endpoint, response)
            status = self.faults.decide()
            if status is not None:
                self.counters.add("server_errors")
                return self._finish(request, endpoint, self.fault_response(status))
            response = await handler(request)
            return self._finish(request, endpoint, response)

        guarded.__name__ = endpoint.replace(".", "_")
        return Route(path, guarded, methods=list(methods))

    def _finish(self, request: Request, endpoint: str, response: Response) -> Response:
        self.decorate(request, endpoint, response)
        return response

    # -- hooks for subclasses -------------------------------------------------------------------

    def check_auth(self, request: Request) -> Response | None:
        """Return an error response when ``request`` is not authenticated, else None."""
        return None

    def check_rate(self, request: Request, endpoint: str) -> Response | None:
        """Spend rate-limit budget for ``request``; return a 429 response when it is spent."""
        return None

    def decorate(self, request: Request, endpoint: str, response: Response) -> None:
        """Add per-response headers (rate-limit state and the like) to ``response``."""

    def fault_response(self, status: int) -> Response:
        """The body an injected server error carries (a plain gateway page by default)."""
        if status == 502:
            body = (
                b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
            )
            return Response(body, status_code=status, media_type="text/html")
        return json_response({"errors": "Internal Server Error"}, status)

    # -- serving ------------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> LoopbackServer:
        """Serve :attr:`app` on loopback (a free port by default) and return the server."""
        if self.server is not None and self.server.running:
            return self.server
        self.server = serve_app(self.app, host=host, port=port)
        self.on_served(self.server.url)
        return self.server

    def on_served(self, url: str) -> None:
        """Called with the base URL once the fake is served (e.g. to learn its site URL)."""

    @property
    def url(self) -> str:
        """Base URL of the running server (``http://127.0.0.1:PORT``); serves on first use."""
        return self.serve().url

    def stop(self) -> None:
        """Stop the loopback server if it runs."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> Self:
        self.serve()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
