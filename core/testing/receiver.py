"""A webhook receiver for tests: records every request and answers with a chosen status.

    receiver = RecordingReceiver(status=200)
    with receiver.serve() as server:
        fake.deliver(server.url + "/hook", ...)
    request = receiver.requests[0]      # method, path, query, headers, body

``status`` may be changed between deliveries, or set to a list of statuses used in turn
(the last one repeats), to simulate a receiver that fails and recovers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.core.testing.loopback import LoopbackServer, serve_app

__all__ = ["ReceivedRequest", "RecordingReceiver"]


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver saw it (header names lower-cased)."""

    method: str
    path: str
    query: str
    url: str
    headers: dict[str, str]
    body: bytes


class RecordingReceiver:
    """An ASGI app recording requests to any path; answers ``status`` (int or a sequence)."""

    def __init__(self, status: int | Sequence[int] = 200, body: bytes = b"ok") -> None:
        self.status: int | Sequence[int] = status
        self.body = body
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}", self._handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
                )
            ]
        )

    def _next_status(self, index: int) -> int:
        if isinstance(self.status, int):
            return self.status
        statuses = list(self.status)
        return statuses[min(index, len(statuses) - 1)]

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            index = len(self.requests)
            self.requests.append(
                ReceivedRequest(
                    request.method,
                    request.url.path,
                    request.url.query,
                    str(request.url),
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                )
            )
        status = self._next_status(index)
        return Response(
            self.body,
            status_code=status,
            headers={"Location": "/elsewhere"} if 300 <= status < 400 else None,
        )

    def serve(self) -> LoopbackServer:
        """Serve the receiver on a free loopback port."""
        return serve_app(self.app)

    def clear(self) -> None:
        """Forget recorded requests."""
        with self._lock:
            self.requests.clear()
