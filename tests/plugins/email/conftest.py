"""Fixtures of the email plugin tests: a recording SMTP server and hubs that send to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from email_support import PUBLIC_URL, SECRET_KEY, SEGMENTS, email_settings
from smtp_recorder import SmtpServer

from crmhub.core.hub import Hub, create_hub
from crmhub.core.plugins import PluginHooks
from crmhub.core.settings import load_settings


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A started recording SMTP server on 127.0.0.1."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def email_hub(crmhub_database_url: str, smtp_server: SmtpServer) -> Iterator[Callable[..., Hub]]:
    """``email_hub(clock=…, hooks=…, segments=…, server=…, **email_overrides)``: a hub on the
    test's database whose email.main sends to ``smtp_server`` (or ``server``)."""
    hubs: list[Hub] = []

    def factory(
        *, segments: dict[str, Any] | None = None, server: Any = None, hooks: PluginHooks | None = None,
        clock: Callable[[], Any] | None = None, **overrides: Any,
    ) -> Hub:
        settings = load_settings(
            None,
            hub={"database_url": crmhub_database_url, "secret_key": SECRET_KEY, "api_keys": ["test-api-key"],
                 "public_url": PUBLIC_URL},
            plugins={"email": {"main": email_settings(server or smtp_server, **overrides)}},
            segments=segments if segments is not None else SEGMENTS,
        )
        hub = create_hub(settings, plugins=hooks, migrate_embedded=False, **({"clock": clock} if clock else {}))
        hubs.append(hub)
        return hub

    yield factory
    for hub in hubs:
        hub.close()
