"""Settings of a WooCommerce instance: ``[plugins.woocommerce.<instance>]``."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from crmhub.core.instances import InstanceSettings


class WooCommerceSettings(InstanceSettings):
    """One WooCommerce site."""

    url: HttpUrl = Field(description="Site root; the plugin adds /wp-json/wc/v3.")
    consumer_key: SecretStr = Field(description="REST API consumer key (ck_…).")
    consumer_secret: SecretStr = Field(description="REST API consumer secret (cs_…).")
    webhook_secret: SecretStr = Field(description="Secret of the webhooks crmhub subscribes to.")
