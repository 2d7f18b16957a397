"""pytest plugin of the crmhub test kit (registered through the ``pytest11`` entry point).

Fixtures:

- ``crmhub_database_url``: an empty, migrated database for this test (SQLite by default,
  PostgreSQL with ``CRMHUB_TEST_DB=postgresql``).
- ``crmhub_make_hub``: ``crmhub_make_hub(plugins={...}, segments={...}, hub={...}, clock=...)``
  builds a :class:`~crmhub.core.hub.Hub` on that database; hubs are closed after the test.
- ``crmhub_hub``: a hub with no plugin instances.
- ``crmhub_loopback_only``: any network connection outside loopback fails the test.
- ``redis_url``: a reachable Redis (fails when ``CI=true`` and Redis is down; skips otherwise).
- ``webhook_receiver``: a loopback server that records requests, and its URL.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crmhub.core.hub import Hub, create_hub
from crmhub.core.plugins import load_plugins
from crmhub.core.settings import load_settings
from crmhub.core.testing.database import TemplateDatabase
from crmhub.core.testing.receiver import RecordingReceiver

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def in_ci() -> bool:
    """Whether the tests run in CI, where missing services must fail, not skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def crmhub_template(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> TemplateDatabase:
    """The migrated template database of this pytest worker (one per xdist worker)."""
    workerinput = getattr(request.config, "workerinput", None)
    worker = workerinput["workerid"] if workerinput else "main"
    folders = load_plugins().migrations()
    return TemplateDatabase(tmp_path_factory.mktemp("template"), worker, folders)


@pytest.fixture
def crmhub_database_url(crmhub_template: TemplateDatabase, tmp_path: Path) -> str:
    """An empty, migrated database for this test."""
    return crmhub_template.fresh_url(tmp_path)


@pytest.fixture
def crmhub_make_hub(crmhub_database_url: str) -> Iterator[Callable[..., Hub]]:
    """Build hubs on the test's database: ``make_hub(plugins=…, segments=…, hub=…)``."""
    hubs: list[Hub] = []

    def factory(
        *, plugins: dict[str, Any] | None = None, segments: dict[str, Any] | None = None,
        hub: dict[str, Any] | None = None, **kwargs: Any,
    ) -> Hub:
        hub_settings = {
            "database_url": crmhub_database_url,
            "secret_key": "test-secret-key-for-signing",
            "api_keys": ["test-api-key"],
            **(hub or {}),
        }
        settings = load_settings(None, hub=hub_settings, plugins=plugins or {}, segments=segments or {})
        built = create_hub(settings, migrate_embedded=False, **kwargs)
        hubs.append(built)
        return built

    yield factory
    for built in hubs:
        built.close()


@pytest.fixture
def crmhub_hub(crmhub_make_hub: Callable[..., Hub]) -> Hub:
    """A hub with no plugin instances."""
    return crmhub_make_hub()


@pytest.fixture
def crmhub_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection to a host outside loopback."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in LOOPBACK and not str(host).startswith("127."):
            raise AssertionError(f"test tried to reach {host!r}: only loopback servers are allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a reachable Redis server (``CRMHUB_TEST_REDIS_URL``, default local)."""
    url = os.environ.get("CRMHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if in_ci():
            pytest.fail(f"Redis at {url} is unreachable in CI: {exc}")
        pytest.skip(f"Redis at {url} is unreachable: {exc}")
    return url


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[RecordingReceiver, str]]:
    """A served :class:`~crmhub.core.testing.receiver.RecordingReceiver` and its base URL."""
    receiver = RecordingReceiver()
    with receiver.serve() as server:
        yield receiver, server.url
