"""Fixtures shared by crmhub's own tests (the kit's fixtures come from crmhub.core.testing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import pytest

from crmhub.core.hub import Hub
from crmhub.plugins.hubspot.fake import FakeHubSpot
from crmhub.plugins.shopify.fake import FakeShopify
from crmhub.plugins.woocommerce.fake import FakeWooCommerce

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _loopback_only(crmhub_loopback_only: None) -> None:
    """No test reaches beyond loopback."""


@pytest.fixture
def make_hub(crmhub_make_hub: Callable[..., Hub]) -> Callable[..., Hub]:
    """Build hubs on the test's database."""
    return crmhub_make_hub


@pytest.fixture
def hub(crmhub_hub: Hub) -> Hub:
    """A hub with no plugin instances."""
    return crmhub_hub


@pytest.fixture
def fake_shopify() -> Iterator[FakeShopify]:
    """A served, empty fake Shopify shop; seed it in the test (``fake_shopify.seed(20, 60)``)."""
    with FakeShopify() as fake:
        yield fake


@pytest.fixture
def fake_woocommerce() -> Iterator[FakeWooCommerce]:
    """A served, empty fake WooCommerce site."""
    with FakeWooCommerce() as fake:
        yield fake


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    """A served, empty fake HubSpot account."""
    with FakeHubSpot() as fake:
        yield fake
