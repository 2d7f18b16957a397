"""Email: campaigns and flows over SMTP with consent and one-click unsubscribe. Hook implementations (its entry point in group ``crmhub.plugins``)."""

from __future__ import annotations

from crmhub.core.plugins import hookimpl
from crmhub.plugins.email.settings import EmailSettings


@hookimpl
def crmhub_plugin_settings() -> type[EmailSettings]:
    """Instances of this plugin are validated by :class:`EmailSettings`."""
    return EmailSettings
