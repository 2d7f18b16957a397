"""Fixtures for the HTTP layer: loopback servers, a fake clock, limiter backends, Redis.

* :func:`serve` runs a Starlette app under uvicorn in a background thread on a free
  loopback port and returns its base URL; the server stops when the test ends.
* Every test runs under :func:`loopback_only`: a connection to anything but loopback fails.
* :func:`redis_url` fails the test when ``CI=true`` and Redis is unreachable, and skips it
  only outside CI.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import uvicorn
from crmhub.core.http import LimiterBackend, MemoryLimiterBackend, RedisLimiterBackend
from http_fakes import FakeClock
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.types import ASGIApp

_LOOPBACK = ("127.", "::1", "localhost")


class LoopbackServer:
    """A uvicorn server for one ASGI app, on a free 127.0.0.1 port, in a daemon thread."""

    def __init__(self, app: ASGIApp) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> None:
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("loopback server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@pytest.fixture
def serve() -> Iterator[Callable[[ASGIApp], str]]:
    """Start ``app`` on loopback and return its base URL; stopped after the test."""
    servers: list[LoopbackServer] = []

    def start(app: ASGIApp) -> str:
        server = LoopbackServer(app)
        server.start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any connection to a non-loopback address fail."""
    original = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not host.startswith(_LOOPBACK):
                raise OSError(f"test tried to reach {host}: only loopback is allowed")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


REDIS_URL = os.environ.get("CRMHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_NO_RETRY = Retry(NoBackoff(), 0)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis; fails loudly in CI when it is down, skips elsewhere."""
    url = REDIS_URL
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, retry=_NO_RETRY).ping()
    except (redis.RedisError, OSError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI but unreachable at {url}: {exc}")
        pytest.skip(f"Redis unreachable at {url}: {exc}")
    return url


@pytest.fixture
def limiter_key() -> Iterator[str]:
    """A key no other test uses; its Redis keys, if any, are deleted afterwards."""
    key = f"test-{uuid.uuid4().hex}"
    yield key
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, retry=_NO_RETRY)
        for name in client.scan_iter(f"crmhub:ratelimit:{key}*"):
            client.delete(name)
    except (redis.RedisError, OSError):
        pass


@pytest.fixture(params=["memory", "redis"])
def make_backend(
    request: pytest.FixtureRequest, limiter_key: str
) -> Callable[[Callable[[], float] | None], LimiterBackend]:
    """Build a backend of each kind on a given clock (``None``: the backend's own clock)."""
    if request.param == "memory":
        return lambda clock=None: MemoryLimiterBackend(clock) if clock else MemoryLimiterBackend()
    url = request.getfixturevalue("redis_url")
    return lambda clock=None: RedisLimiterBackend(url, clock=clock)
