"""Settings of a Shopify instance: ``[plugins.shopify.<instance>]``."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from crmhub.core.instances import InstanceSettings


class ShopifySettings(InstanceSettings):
    """One Shopify shop."""

    shop_url: HttpUrl = Field(description="The shop's base URL, e.g. https://example.myshopify.com.")
    access_token: SecretStr = Field(description="Admin API access token (X-Shopify-Access-Token).")
    webhook_secret: SecretStr = Field(description="The app's client secret; signs webhook HMACs.")
    api_version: str = Field(default="2025-07", pattern=r"^\d{4}-\d{2}$", description="Admin API version, YYYY-MM.")
