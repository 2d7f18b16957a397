"""Fixtures of the WooCommerce plugin tests: a fake site on loopback (plain HTTP, so it
refuses Basic auth and wants OAuth signatures, as WooCommerce does), a hub whose
``public_url`` is a recording receiver (where the fake delivers webhooks), and a runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crmhub.core.hub import Hub
from crmhub.core.testing.fake_controls import Clock
from crmhub.core.testing.receiver import RecordingReceiver
from crmhub.plugins.woocommerce import stream_base
from crmhub.plugins.woocommerce.fake import FakeWooCommerce
from tests.plugins.woocommerce.support import Runner

START = datetime(2025, 7, 1, 10, 0, tzinfo=UTC)  # summer: the site (Berlin) is UTC+2
SECRET = "wh_s3cret&amp;<test>"


@pytest.fixture
def clock() -> Clock:
    """One frozen clock for the fake site and the hub."""
    return Clock(START)


@pytest.fixture
def woo(clock: Clock) -> Iterator[FakeWooCommerce]:
    """A served fake site with 40 customers and 150 orders (about 15 % guests)."""
    fake = FakeWooCommerce(clock=clock, allow_basic=False)
    fake.seed(40, 150, seed=7)
    with fake:
        yield fake


@pytest.fixture
def receiver(webhook_receiver: tuple[RecordingReceiver, str]) -> tuple[RecordingReceiver, str]:
    """Where the hub is "public": the fake's deliveries land here."""
    return webhook_receiver


@pytest.fixture
def woo_hub(
    make_hub: Callable[..., Hub],
    woo: FakeWooCommerce,
    clock: Clock,
    receiver: tuple[RecordingReceiver, str],
) -> Callable[..., Hub]:
    """``woo_hub(**settings)``: a hub with instance ``woocommerce.main`` on the fake."""

    def build(**settings: Any) -> Hub:
        main = {
            "url": woo.url,
            "consumer_key": woo.consumer_key,
            "consumer_secret": woo.consumer_secret,
            "webhook_secret": SECRET,
            "max_requests_per_second": 0,
            **settings,
        }
        return make_hub(
            plugins={"woocommerce": {"main": main}},
            hub={"public_url": receiver[1], "exchange_rates": {"EUR": "1.1"}},
            clock=clock,
        )

    return build


@pytest.fixture
def runner(woo_hub: Callable[..., Hub]) -> Runner:
    """A runner on a hub with default settings."""
    return Runner(woo_hub())


def hook_url(receiver: tuple[RecordingReceiver, str]) -> str:
    """The delivery URL of ``woocommerce.main`` on the test hub."""
    return receiver[1] + "/webhooks/woocommerce/main"


class SpyTransport(httpx.HTTPTransport):
    """A real HTTP transport that remembers every request it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)

    def lists(self, path: str) -> list[dict[str, str]]:
        """Query parameters of the GET requests to ``…/wc/v3/<path>``."""
        return [
            dict(r.url.params)
            for r in self.requests
            if r.method == "GET" and r.url.path.endswith(f"/wc/v3/{path}")
        ]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> SpyTransport:
    """Every request the streams send passes through this (still to the loopback fake)."""
    transport = SpyTransport()
    real = stream_base.woo_client
    monkeypatch.setattr(
        stream_base,
        "woo_client",
        lambda hub, instance, **kw: real(hub, instance, transport=transport, **kw),
    )
    return transport
