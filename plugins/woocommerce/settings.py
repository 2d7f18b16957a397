"""Settings of a WooCommerce instance: ``[plugins.woocommerce.<instance>]``."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator

from crmhub.core.instances import InstanceSettings, parse_duration


class WooCommerceSettings(InstanceSettings):
    """One WooCommerce site."""

    url: HttpUrl = Field(description="Site root; the plugin adds /wp-json/wc/v3.")
    consumer_key: SecretStr = Field(description="REST API consumer key (ck_…).")
    consumer_secret: SecretStr = Field(description="REST API consumer secret (cs_…).")
    webhook_secret: SecretStr = Field(description="Secret of the webhooks crmhub subscribes to.")
    auth: Literal["auto", "basic", "oauth1"] = Field(
        default="auto",
        description='"auto": HTTP Basic when url is https://, OAuth 1.0a one-legged signing '
        'when it is http:// (as WooCommerce requires); "basic" or "oauth1" force one, e.g. '
        "for a site behind a TLS-terminating proxy.",
    )
    lookback: str = Field(
        default="10m",
        description="Orders modified this long before the previous sync's newest change are "
        "read again (clock skew, slow writes). A duration: 90s, 10m, 2h, 1d.",
    )
    customer_full_sync_interval: str = Field(
        default="1d",
        description="How often a sync reads every customer again. Between full passes, "
        "customers are read when they register, place or change an order, or through "
        "webhooks; profile edits without an order are seen only through webhooks or this pass.",
    )
    webhook_url: str = Field(
        default="",
        description="The delivery URL WooCommerce posts this instance's webhooks to; "
        '"" means <[hub] public_url>/webhooks/woocommerce/<instance>. Only subscriptions to '
        "this URL are checked and re-enabled.",
    )
    reenable_webhooks: bool = Field(
        default=True,
        description="Set webhooks that WooCommerce disabled after failed deliveries back to "
        "active on each sync (paused ones, which an admin paused, are only reported).",
    )
    page_size: int = Field(
        default=100, ge=1, le=100, description="Records per request (WooCommerce allows 1-100)."
    )
    commit_every: int = Field(
        default=1000,
        ge=1,
        description="Records a sync commits together with its cursor: larger is faster, "
        "smaller redoes less when a sync is killed.",
    )
    max_requests_per_second: float = Field(
        default=10.0,
        ge=0,
        description="Requests per second to the site, shared by all workers (0: no limit). "
        "WordPress hosts are often small; keep it modest.",
    )
    timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for one response.")

    @field_validator("lookback", "customer_full_sync_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def lookback_delta(self) -> timedelta:
        """:attr:`lookback` as a timedelta."""
        return timedelta(seconds=parse_duration(self.lookback))

    @property
    def customer_full_sync_delta(self) -> timedelta:
        """:attr:`customer_full_sync_interval` as a timedelta."""
        return timedelta(seconds=parse_duration(self.customer_full_sync_interval))

    @property
    def api_url(self) -> str:
        """The REST root: ``<url>/wp-json/wc/v3/``."""
        return str(self.url).rstrip("/") + "/wp-json/wc/v3/"

    @property
    def uses_basic_auth(self) -> bool:
        """Whether requests carry HTTP Basic credentials (else they are OAuth-signed)."""
        if self.auth == "auto":
            return self.url.scheme == "https"
        return self.auth == "basic"
