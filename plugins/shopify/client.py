"""The Admin REST client of one Shopify instance, with the shop's shared rate limiter.

Shopify limits REST calls per app and store with a leaky bucket whose size and leak rate
depend on the plan. The limiter starts from the smallest plan (40, leaking 2/s), learns
the real capacity from ``X-Shopify-Shop-Api-Call-Limit`` on every answer and the leak rate
from successive answers, and keeps the bucket a little short of full. Its state lives in
the hub's limiter backend (Redis with a Redis broker), keyed by shop and token, so every
worker syncing the shop shares one budget. 429s pause the key for ``Retry-After``; 5xx and
timeouts are retried with back-off by :class:`~crmhub.core.http.ApiClient`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crmhub.core.errors import PermanentRemoteError
from crmhub.core.http import (
    ApiClient,
    LinkHeaderPaginator,
    LinkToken,
    Page,
    ShopifyCallLimitHeader,
    rate_limiter,
)
from crmhub.core.settings import secret_value

if TYPE_CHECKING:
    from crmhub.core.hub import Hub
    from crmhub.core.instances import Instance
    from crmhub.plugins.shopify.settings import ShopifySettings


def limiter_key(settings: ShopifySettings) -> str:
    """The rate-limit key of a shop and app: Shopify counts calls per app and store."""
    parts = urlsplit(str(settings.shop_url))
    token = hashlib.sha256(secret_value(settings.access_token).encode()).hexdigest()[:12]
    return f"shopify:{parts.netloc.lower()}:{token}"


class ShopifyClient:
    """Reads one shop's Admin REST API (``/admin/api/{api_version}/``).

    :param hub: the hub whose limiter backend is shared.
    :param instance: the Shopify instance.
    """

    def __init__(self, hub: Hub, instance: Instance[ShopifySettings]) -> None:
        settings = instance.settings
        header = ShopifyCallLimitHeader()
        self.api = ApiClient(
            f"{str(settings.shop_url).rstrip('/')}/admin/api/{settings.api_version}/",
            headers={"X-Shopify-Access-Token": secret_value(settings.access_token)},
            timeout=settings.request_timeout,
            limiter=rate_limiter(
                hub,
                limiter_key(settings),
                {"bucket": header.starting_policy()},
                header_policy=header,
            ),
            instance=instance.id,
        )
        self.page_size = settings.page_size

    def pages(
        self, resource: str, params: Mapping[str, Any], start: LinkToken | None = None
    ) -> Iterator[Page[LinkToken]]:
        """Pages of ``resource`` (``customers``/``orders``): ``params`` go on the first
        request only, later pages follow the ``Link`` header's ``page_info`` exactly."""
        first = {"limit": self.page_size, **params}
        return LinkHeaderPaginator(items_path=resource).pages(
            self.api, f"{resource}.json", first, start=start
        )

    def count(self, resource: str, params: Mapping[str, Any] | None = None) -> int:
        """``GET {resource}/count.json``: how many records the shop holds."""
        body = self.api.get_json(f"{resource}/count.json", params=params)
        return int(body["count"])

    def get(self, resource: str, record_id: int | str) -> dict[str, Any] | None:
        """One record (``GET orders/{id}.json``), or None when the shop no longer has it."""
        key = resource.rstrip("s")
        try:
            body = self.api.get_json(f"{resource}/{record_id}.json")
        except PermanentRemoteError as exc:
            if exc.status_code == 404:
                return None
            raise
        return body.get(key) if isinstance(body, dict) else None

    def close(self) -> None:
        """Close the connection pool."""
        self.api.close()


def shopify_client(hub: Hub, instance: Instance[ShopifySettings]) -> ShopifyClient:
    """The hub's client of ``instance`` (one connection pool per hub and instance)."""
    return hub.service(
        f"shopify.client:{instance.id}", lambda built: ShopifyClient(built, instance)
    )
