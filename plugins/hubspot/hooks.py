"""HubSpot: contacts in, segments out as lists and properties. Hook implementations (its entry point in group ``crmhub.plugins``)."""

from __future__ import annotations

from crmhub.core.plugins import hookimpl
from crmhub.plugins.hubspot.settings import HubSpotSettings


@hookimpl
def crmhub_plugin_settings() -> type[HubSpotSettings]:
    """Instances of this plugin are validated by :class:`HubSpotSettings`."""
    return HubSpotSettings
