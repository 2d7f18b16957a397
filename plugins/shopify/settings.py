"""Settings of a Shopify instance: ``[plugins.shopify.<instance>]``."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, HttpUrl, SecretStr, field_validator

from crmhub.core.instances import InstanceSettings, parse_duration

StreamName = Literal["customers", "orders"]
ALL_STREAMS: tuple[StreamName, ...] = ("customers", "orders")


class ShopifySettings(InstanceSettings):
    """One Shopify shop."""

    shop_url: HttpUrl = Field(
        description="The shop's base URL, e.g. https://example.myshopify.com."
    )
    access_token: SecretStr = Field(description="Admin API access token (X-Shopify-Access-Token).")
    webhook_secret: SecretStr = Field(description="The app's client secret; signs webhook HMACs.")
    previous_webhook_secret: SecretStr | None = Field(
        default=None,
        description="The client secret before a rotation, still accepted for webhook HMACs "
        "(Shopify may take up to an hour to sign with the new one). Remove it afterwards.",
    )
    api_version: str = Field(
        default="2025-07", pattern=r"^\d{4}-\d{2}$", description="Admin API version, YYYY-MM."
    )
    shop_domain: str | None = Field(
        default=None,
        description="The shop's *.myshopify.com domain. Webhooks whose X-Shopify-Shop-Domain differs are "
        "refused (an app installed on several shops signs them all with one secret). Default: the host "
        "of shop_url when it is a myshopify.com host, else no check.",
    )
    streams: list[StreamName] = Field(
        default_factory=lambda: list(ALL_STREAMS),
        min_length=1,
        description='What a sync reads: "customers", "orders" or both (customers first).',
    )
    lookback: str = Field(
        default="10m",
        description="Each incremental sync re-reads records updated this long before the last one it "
        'saw (clock skew, records saved during a run), e.g. "10m", "1h".',
    )
    page_size: int = Field(
        default=250, ge=1, le=250, description="Records per page (Shopify allows at most 250)."
    )
    records_per_commit: int = Field(
        default=1000,
        ge=1,
        description="Records a sync stores per transaction (with its cursor): "
        "larger is faster; a killed sync reads at most this many again.",
    )
    request_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds before a request to Shopify times out (it is retried).",
    )

    @field_validator("lookback")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("access_token", "webhook_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("previous_webhook_secret")
    @classmethod
    def _unset_when_empty(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("streams")
    @classmethod
    def _unique(cls, value: list[StreamName]) -> list[StreamName]:
        return sorted(set(value), key=ALL_STREAMS.index)

    @property
    def lookback_window(self) -> timedelta:
        """The lookback window (the core's per-stream ``sync_lookback``, when set, wins)."""
        return timedelta(seconds=parse_duration(self.lookback))

    @property
    def expected_shop_domain(self) -> str | None:
        """The domain webhooks must come from, or None when it cannot be known."""
        if self.shop_domain:
            return self.shop_domain.strip().lower()
        host = (urlsplit(str(self.shop_url)).hostname or "").lower()
        return host if host.endswith(".myshopify.com") else None
