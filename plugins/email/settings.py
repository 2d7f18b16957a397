"""Settings of an email instance: ``[plugins.email.<instance>]``.

The instance table holds the SMTP connection and sending policy; four sub-tables name
what it sends::

    [plugins.email.main.templates.spring]     # inline, or folder = "email/spring"
    subject = "Spring picks for {{ customer.first_name or 'you' }}"
    html = "<p>Hello …</p>"
    text = "Hello …"

    [plugins.email.main.campaigns.spring]     # crmhub email send spring
    segment = "champions"
    template = "spring"
    holdout = 0.1

    [plugins.email.main.flows.welcome]        # sent to each customer entering a segment
    segment = "new_customers"
    template = "welcome"
    delay = "1d"

    [plugins.email.main.surveys.nps]          # a campaign or flow with survey = "nps"
    kind = "nps"
    question = "How likely are you to recommend us?"
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from crmhub.core.instances import InstanceSettings, parse_duration


def _duration(value: str) -> str:
    parse_duration(value)
    return value


class TemplateSettings(BaseModel):
    """One Jinja2 template: inline ``subject``/``html``/``text``, or a ``folder`` holding
    ``subject.txt``, ``body.html`` and/or ``body.txt``."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, description="Inline subject template.")
    html: str | None = Field(default=None, description="Inline HTML body template.")
    text: str | None = Field(default=None, description="Inline plain-text body template.")
    folder: str | None = Field(
        default=None,
        description="Folder with subject.txt, body.html and/or body.txt (relative paths are "
        "relative to the configuration file's folder).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> TemplateSettings:
        inline = self.subject is not None or self.html is not None or self.text is not None
        if self.folder is not None and inline:
            raise ValueError("give either folder or inline subject/html/text, not both")
        if self.folder is None and (self.subject is None or (self.html is None and self.text is None)):
            raise ValueError("an inline template needs subject and html and/or text")
        return self


class SurveySettings(BaseModel):
    """An NPS (0–10) or CSAT (1–5) question answered with one click."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["nps", "csat"] = Field(description='"nps" (answers 0-10) or "csat" (answers 1-5).')
    question: str = Field(description="The question shown above the answer links.")

    @property
    def answers(self) -> range:
        """The answers a link can carry."""
        return range(11) if self.kind == "nps" else range(1, 6)


class _Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: str = Field(description="The segment whose members receive it.")
    template: str = Field(description="Name of a template in [plugins.email.<instance>.templates].")
    holdout: float = Field(
        default=0.0, ge=0.0, lt=1.0,
        description="Share of the segment held back as a control group (stable per customer).",
    )
    conversion_window_days: int = Field(
        default=7, ge=1, le=365, description="Days after sending in which an order counts as a conversion."
    )
    survey: str | None = Field(default=None, description="Name of a survey whose answer links the email carries.")


class CampaignSettings(_Audience):
    """A one-off send to a whole segment (``crmhub email send NAME``); each customer gets
    it at most once however often it is run."""


class FlowSettings(_Audience):
    """An email sent to each customer entering a segment, optionally after a delay."""

    delay: str = Field(default="0s", description='Wait after entering before sending, e.g. "0s", "2h", "3d".')
    entry_window: str = Field(
        default="7d",
        description="A segment push enrols a member only if they entered the segment this recently, "
        "so adding a flow never mails long-standing members.",
    )
    cancel_on_exit: bool = Field(
        default=True, description="Cancel a delayed email when the customer leaves the segment before it is due."
    )

    @field_validator("delay", "entry_window")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)


class EmailSettings(InstanceSettings):
    """One SMTP sender with its templates, campaigns, flows and surveys."""

    smtp_host: str = Field(default="127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    security: Literal["none", "starttls", "tls"] = Field(
        default="none", description='"none", "starttls" (upgrade after connecting) or "tls" (implicit TLS, port 465).'
    )
    username: str | None = Field(default=None, description="SMTP AUTH user name (no AUTH when unset).")
    password: SecretStr | None = Field(default=None, description="SMTP AUTH password.")
    tls_ca_file: str | None = Field(
        default=None, description="CA bundle (PEM) to trust for the server's certificate, e.g. a private CA."
    )
    helo_name: str | None = Field(default=None, description="Name sent in EHLO (default: this machine's FQDN).")
    timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for the SMTP server.")
    from_address: str = Field(description='Sender, e.g. "Shop <news@example.com>".')
    reply_to: str | None = Field(default=None, description="Reply-To address, when replies go elsewhere.")
    unsubscribe_mailto: str | None = Field(
        default=None, description="Mailbox named in List-Unsubscribe next to the HTTPS link (mailto:)."
    )
    rate_per_second: float = Field(
        default=0.0, ge=0.0, description="Most messages per second, shared by all workers (0 = no limit)."
    )
    max_attempts: int = Field(default=5, ge=1, le=50, description="Attempts at a soft-bouncing (4xx) address.")
    retry_delay: str = Field(default="5m", description="Wait before the first retry of a 4xx; doubles each time.")
    retry_max_delay: str = Field(default="6h", description="Longest wait between retries.")
    track_opens: bool = Field(default=True, description="Add an open pixel to HTML messages.")
    track_clicks: bool = Field(default=True, description="Route links through signed click redirects.")
    recommendations: int = Field(
        default=3, ge=0, le=20, description="Products offered to templates as `recommendations`."
    )
    templates: dict[str, TemplateSettings] = Field(default_factory=dict, description="Templates by name.")
    campaigns: dict[str, CampaignSettings] = Field(default_factory=dict, description="Campaigns by name.")
    flows: dict[str, FlowSettings] = Field(default_factory=dict, description="Flows by name.")
    surveys: dict[str, SurveySettings] = Field(default_factory=dict, description="Surveys by name.")

    @field_validator("retry_delay", "retry_max_delay")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _references(self) -> EmailSettings:
        for table, entries in (("campaigns", self.campaigns), ("flows", self.flows)):
            for name, entry in entries.items():
                if entry.template not in self.templates:
                    raise ValueError(f"{table}.{name}.template: no template named {entry.template!r}")
                if entry.survey is not None and entry.survey not in self.surveys:
                    raise ValueError(f"{table}.{name}.survey: no survey named {entry.survey!r}")
        clash = set(self.campaigns) & set(self.flows)
        if clash:
            raise ValueError(f"campaigns and flows share the name(s) {sorted(clash)}")
        return self

    def audience(self, name: str) -> tuple[str, CampaignSettings | FlowSettings] | None:
        """``("campaign", settings)`` or ``("flow", settings)`` for a name, or None."""
        if name in self.campaigns:
            return "campaign", self.campaigns[name]
        if name in self.flows:
            return "flow", self.flows[name]
        return None
