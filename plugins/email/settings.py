"""Settings of an email instance: ``[plugins.email.<instance>]``."""

from __future__ import annotations

from pydantic import Field

from crmhub.core.instances import InstanceSettings


class EmailSettings(InstanceSettings):
    """One SMTP sender."""

    smtp_host: str = Field(default="127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    from_address: str = Field(description='Sender, e.g. "Shop <news@example.com>".')
