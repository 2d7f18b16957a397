"""crmhub's pytest plugin (entry point ``pytest11: crmhub``): fixtures for the fake remote APIs.

Each fixture serves a fresh, empty fake on a free loopback port for one test and stops it
afterwards; seed it in the test (``fake_shopify.seed(20, 60)``)::

    def test_sync(fake_shopify):
        fake_shopify.seed(10, 30)
        ...  # point the plugin at fake_shopify.url

Imports of the fakes happen inside the fixtures, so loading the plugin stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from crmhub.core.testing.receiver import RecordingReceiver
    from crmhub.plugins.hubspot.fake import FakeHubSpot
    from crmhub.plugins.shopify.fake import FakeShopify
    from crmhub.plugins.woocommerce.fake import FakeWooCommerce


@pytest.fixture
def fake_shopify() -> Iterator[FakeShopify]:
    """A served, empty :class:`~crmhub.plugins.shopify.fake.FakeShopify`."""
    from crmhub.plugins.shopify.fake import FakeShopify

    with FakeShopify() as fake:
        yield fake


@pytest.fixture
def fake_woocommerce() -> Iterator[FakeWooCommerce]:
    """A served, empty :class:`~crmhub.plugins.woocommerce.fake.FakeWooCommerce`."""
    from crmhub.plugins.woocommerce.fake import FakeWooCommerce

    with FakeWooCommerce() as fake:
        yield fake


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    """A served, empty :class:`~crmhub.plugins.hubspot.fake.FakeHubSpot`."""
    from crmhub.plugins.hubspot.fake import FakeHubSpot

    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[RecordingReceiver, str]]:
    """A served :class:`~crmhub.core.testing.receiver.RecordingReceiver` and its base URL."""
    from crmhub.core.testing.receiver import RecordingReceiver

    receiver = RecordingReceiver()
    with receiver.serve() as server:
        yield receiver, server.url
