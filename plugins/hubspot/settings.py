"""Settings of a HubSpot instance: ``[plugins.hubspot.<instance>]``."""

from __future__ import annotations

import re

from crmhub.core.instances import InstanceSettings
from pydantic import Field, HttpUrl, SecretStr, field_validator

_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


class HubSpotSettings(InstanceSettings):
    """One HubSpot account."""

    base_url: HttpUrl = Field(default=HttpUrl("https://api.hubapi.com"), description="API base URL.")
    access_token: SecretStr = Field(description="Private-app access token.")
    client_secret: SecretStr = Field(description="App client secret; verifies webhook signatures v1/v2/v3.")
    requests_per_10s: int = Field(
        default=100,
        ge=1,
        description="Calls per rolling 10 seconds for this account (100 on Free/Starter, 190 on "
        "Professional/Enterprise). Only the starting figure: the X-HubSpot-RateLimit-* headers "
        "of HubSpot's answers take over.",
    )
    search_per_second: int = Field(
        default=4, ge=1, description="CRM search calls per second (HubSpot allows 4 per token)."
    )
    segments_property: str = Field(
        default="crmhub_segments",
        description="Contact property that holds the names of the crmhub segments routed to this "
        "instance that the contact is in, separated by ';' (a multiple-checkbox or text property).",
    )
    score_properties: dict[str, str] = Field(
        default_factory=lambda: {
            "rfm_segment": "crmhub_rfm_segment",
            "clv": "crmhub_clv",
            "churn_risk": "crmhub_churn_risk",
        },
        description="crmhub score or field name -> HubSpot contact property that receives it for "
        "pushed contacts (rfm_segment, tier, clv, p_alive, churn_risk, health, orders_count, "
        "total_spent…). Numbers are sent rounded to 2 decimals.",
    )
    list_prefix: str = Field(
        default="crmhub: ",
        description="Prefix of the MANUAL contact list kept for each segment: segment "
        "'champions' is the list 'crmhub: champions'.",
    )
    webhook_public_url: str = Field(
        default="",
        description="The exact target URL set in the HubSpot app, when it is not the hub's "
        "public_url + /webhooks/hubspot/<instance> (a proxy that rewrites the path). Signatures "
        "v2 and v3 cover this URL. Empty: the hub's public URL.",
    )
    portal_ids: list[int] = Field(
        default_factory=list,
        description="HubSpot account (portal) ids whose webhook events this instance accepts; "
        "events of other accounts signed by the same app are ignored. Empty: any account.",
    )

    @field_validator("segments_property")
    @classmethod
    def _property(cls, value: str) -> str:
        if not _PROPERTY_NAME.match(value):
            raise ValueError("HubSpot property names use lower-case letters, digits and '_'")
        return value

    @field_validator("score_properties")
    @classmethod
    def _properties(cls, value: dict[str, str]) -> dict[str, str]:
        from crmhub.core.segments.diff import SNAPSHOT_COLUMNS

        known = sorted(column.name for column in SNAPSHOT_COLUMNS)
        for field in value:
            if field not in known:
                raise ValueError(f"{field!r} is not a customer field or score; known: {', '.join(known)}")
        for name in value.values():
            if not _PROPERTY_NAME.match(name):
                raise ValueError(f"{name!r}: HubSpot property names use lower-case letters, digits and '_'")
        return value
