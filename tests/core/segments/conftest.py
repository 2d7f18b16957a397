"""Fixtures of the segment tests: hubs with extra plugin objects (destinations, listeners)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crmhub.core.hub import Hub, create_hub
from crmhub.core.plugins import load_plugins
from crmhub.core.settings import load_settings
from tests.conftest import T0


class Clock:
    """A settable clock for hubs."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> Any:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def build_hub(crmhub_database_url: str, clock: Clock) -> Iterator[Callable[..., Hub]]:
    """``build_hub(segments={...}, instances={...}, extra={"name": plugin})`` on the test database."""
    hubs: list[Hub] = []

    def factory(*, segments: dict[str, Any] | None = None, instances: dict[str, Any] | None = None,
                extra: dict[str, object] | None = None) -> Hub:
        settings = load_settings(None, hub={"database_url": crmhub_database_url, "secret_key": "test-secret-key"},
                                 plugins=instances or {}, segments=segments or {})
        hub = create_hub(settings, plugins=load_plugins(extra_plugins=extra or {}), clock=clock,
                         migrate_embedded=False)
        hubs.append(hub)
        return hub

    yield factory
    for hub in hubs:
        hub.close()
