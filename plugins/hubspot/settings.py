"""Settings of a HubSpot instance: ``[plugins.hubspot.<instance>]``."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr

from crmhub.core.instances import InstanceSettings


class HubSpotSettings(InstanceSettings):
    """One HubSpot account."""

    base_url: HttpUrl = Field(default=HttpUrl("https://api.hubapi.com"), description="API base URL.")
    access_token: SecretStr = Field(description="Private-app access token.")
    client_secret: SecretStr = Field(description="App client secret; verifies webhook signatures v1/v2/v3.")
