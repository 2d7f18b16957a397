"""Turn a template and a customer into a complete message.

Every message is a marketing message and carries, besides From/To/Subject/Date/Message-ID
(and Reply-To when configured):

- ``List-Unsubscribe: <https://…/unsubscribe/{token}>, <mailto:…?subject=unsubscribe%20{token}>``
  (the mailto when ``unsubscribe_mailto`` is set) and
- ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058).

Templates get the customer's context (see :mod:`.context`) plus ``unsubscribe_url``,
``campaign`` (``kind``, ``name``, ``segment``), ``survey`` (when the step has one: the
question, ``answers`` as ``{value, url}``, and ready-made ``html``/``text`` renderings),
``public_url`` and ``now``. The HTML part gets tracked links and an open pixel; a text
part is derived from the HTML when the template has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Any

from markupsafe import Markup, escape

from crmhub.core.errors import InputError
from crmhub.plugins.email.links import LinkTable, add_pixel, html_to_text
from crmhub.plugins.email.mime import assemble
from crmhub.plugins.email.settings import (
    CampaignSettings,
    EmailSettings,
    FlowSettings,
    SurveySettings,
)
from crmhub.plugins.email.templates import CompiledTemplate
from crmhub.plugins.email.tokens import Purpose, TokenSigner

_UNUSABLE = set("<>\r\n\t ,;\"")


class UnusableAddress(InputError):
    """A customer address that cannot be put in an SMTP command (spaces, brackets…)."""


@dataclass(frozen=True)
class Composed:
    """A message ready for SMTP, and what was recorded about it."""

    recipient: str
    sender: str
    data: bytes
    message_id: str
    links: list[str]
    subject: str
    html: str | None
    text: str
    headers: dict[str, str]


def _survey(survey: SurveySettings, name: str, url: Any) -> dict[str, Any]:
    answers = [{"value": value, "url": url(value)} for value in survey.answers]
    cells = "".join(
        f'<a href="{escape(a["url"])}" style="display:inline-block;min-width:2em;padding:6px;margin:2px;'
        f'border:1px solid #888;border-radius:4px;text-align:center;text-decoration:none">{a["value"]}</a>'
        for a in answers
    )
    text = "\n".join(f"{a['value']}: {a['url']}" for a in answers)
    return {"name": name, "kind": survey.kind, "question": survey.question, "answers": answers,
            "html": Markup(f"<p>{escape(survey.question)}</p><p>{cells}</p>"), "text": f"{survey.question}\n{text}\n"}


class Composer:
    """Builds the messages of one instance."""

    def __init__(self, *, instance: str, settings: EmailSettings, signer: TokenSigner, public_url: str) -> None:
        self.instance = instance
        self.settings = settings
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.sender = parseaddr(settings.from_address)[1]
        self.domain = self.sender.rpartition("@")[2] or "localhost"

    def url(self, path: str, purpose: Purpose, send_id: int, customer_id: int, extra: int = 0) -> str:
        """A signed link to the hub."""
        return f"{self.public_url}/{path}/{self.signer.sign(purpose, send_id, customer_id, extra)}"

    def compose(
        self, *, template: CompiledTemplate, context: dict[str, Any], send_id: int, kind: str, name: str,
        step: CampaignSettings | FlowSettings, now: Any,
    ) -> Composed:
        """Render and assemble one message for ``context['customer']``.

        :raises TemplateRenderError: the template failed for this customer.
        :raises UnusableAddress: the customer's address cannot be used.
        """
        customer = context["customer"]
        customer_id = int(customer["id"])
        address = customer["email"] or ""
        if "@" not in address or _UNUSABLE & set(address) or not address.isprintable():
            raise UnusableAddress(f"customer {customer_id}: {address!r} is not an address SMTP can use")
        unsubscribe = self.url("unsubscribe", Purpose.UNSUBSCRIBE, send_id, customer_id)
        full = {**context, "unsubscribe_url": unsubscribe, "campaign": {"kind": kind, "name": name, "segment": step.segment},
                "public_url": self.public_url, "now": now, "survey": None}
        if step.survey is not None:
            full["survey"] = _survey(self.settings.surveys[step.survey], step.survey,
                                     lambda value: self.url("email/survey", Purpose.SURVEY, send_id, customer_id, value))
        rendered = template.render(full)
        table = LinkTable(self.public_url + "/", lambda i: self.url("email/click", Purpose.CLICK, send_id, customer_id, i))
        html, text = rendered.html, rendered.text
        if text is None and html is not None:
            text = html_to_text(html)
        if self.settings.track_clicks:
            html = table.rewrite_html(html) if html is not None else None
            text = table.rewrite_text(text or "")
        if html is not None and self.settings.track_opens:
            html = add_pixel(html, self.url("email/open", Purpose.OPEN, send_id, customer_id))
        headers = self._headers(customer, rendered.subject, unsubscribe, now)
        return Composed(
            recipient=customer["email"], sender=self.sender, data=assemble(headers, text or "", html),
            message_id=headers["Message-ID"], links=table.urls, subject=rendered.subject, html=html,
            text=text or "", headers=headers,
        )

    def _headers(self, customer: dict[str, Any], subject: str, unsubscribe: str, now: Any) -> dict[str, str]:
        name = " ".join(filter(None, [customer.get("first_name"), customer.get("last_name")]))
        to = formataddr((name, customer["email"])) if name else customer["email"]
        targets = [f"<{unsubscribe}>"]
        if self.settings.unsubscribe_mailto:
            token = unsubscribe.rsplit("/", 1)[1]
            targets.append(f"<mailto:{self.settings.unsubscribe_mailto}?subject=unsubscribe%20{token}>")
        headers = {
            "From": self.settings.from_address, "To": to, "Subject": subject,
            "Date": format_datetime(now, usegmt=True), "Message-ID": make_msgid(domain=self.domain),
            "List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        if self.settings.reply_to:
            headers["Reply-To"] = self.settings.reply_to
        return headers
