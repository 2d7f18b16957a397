"""Helpers of the email tests: configuration, customers, segment members, orders, a clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from crmhub.core.hub import Hub
from crmhub.core.ingest import ingestor
from crmhub.core.models import Consent, Customer, Interaction, SegmentMember
from crmhub.core.records import ConsentRecord, CustomerRecord, OrderLineRecord, OrderRecord
from crmhub.plugins.email.models import EmailSend

PUBLIC_URL = "https://hub.example.com"
SECRET_KEY = "test-secret-key-for-signing"
SEND = EmailSend.__table__

SPRING_HTML = """<html><body>
<h1>Hello {{ customer.first_name or "friend" }}</h1>
<p>Your tier: {{ scores.tier or "none" }}. <a href="https://shop.example.com/spring?utm=mail&amp;c=1">Shop spring</a></p>
{% for product in recommendations %}<p>{{ product.title }}</p>{% endfor %}
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""
SPRING_TEXT = """Hello {{ customer.first_name or "friend" }},
Shop spring: https://shop.example.com/spring?utm=mail&c=1.
Unsubscribe: {{ unsubscribe_url }}
"""


class Clock:
    """A hub clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward by ``timedelta(**delta)``."""
        self.now += timedelta(**delta)


def email_settings(server: Any, **overrides: Any) -> dict[str, Any]:
    """Settings of email.main pointing at a recording SMTP server."""
    base: dict[str, Any] = {
        "smtp_host": server.host, "smtp_port": server.port, "helo_name": "crmhub.test",
        "from_address": "Shop <news@shop.example.com>", "unsubscribe_mailto": "unsubscribe@shop.example.com",
        "reply_to": "help@shop.example.com", "retry_delay": "5m", "max_attempts": 3,
        "templates": {
            "spring": {"subject": "Spring picks for {{ customer.first_name or 'you' }}", "html": SPRING_HTML,
                       "text": SPRING_TEXT},
            "welcome": {"subject": "Welcome!", "html": "<p>Welcome {{ customer.first_name }}</p>"},
            "nps": {"subject": "A quick question", "html": "<p>Hi</p>{{ survey.html }}", "text": "{{ survey.text }}"},
        },
        "campaigns": {"spring": {"segment": "champions", "template": "spring", "holdout": 0.0}},
        "flows": {"welcome": {"segment": "newcomers", "template": "welcome", "delay": "1h"}},
        "surveys": {"nps": {"kind": "nps", "question": "How likely are you to recommend us?"}},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


SEGMENTS = {"champions": {"rule": "orders_count >= 2"}, "newcomers": {"rule": "orders_count == 1"}}


def add_customers(hub: Hub, count: int, *, consent: bool | None = True, prefix: str = "c",
                  at: datetime | None = None) -> list[int]:
    """Create customers ``{prefix}{i}@example.com`` (first name ``Name{i}``); returns their ids."""
    at = at or hub.now()
    records = [
        CustomerRecord(instance="import.default", external_id=f"{prefix}{i}", email=f"{prefix}{i}@example.com",
                       first_name=f"Name{i}", source_updated_at=at,
                       consent=[] if consent is None else [ConsentRecord(granted=consent, recorded_at=at)])
        for i in range(count)
    ]
    ingestor(hub).ingest_and_commit(records, source="import.default")
    with hub.transaction() as session:
        rows = session.execute(select(Customer.__table__.c.id, Customer.__table__.c.email)).all()
    by_email = {email: cid for cid, email in rows}
    return [by_email[f"{prefix}{i}@example.com"] for i in range(count)]


def join_segment(hub: Hub, segment: str, ids: list[int], entered_at: datetime | None = None) -> None:
    """Insert segment membership rows as the segments engine would."""
    with hub.transaction() as session:
        session.execute(insert(SegmentMember.__table__), [
            {"segment": segment, "customer_id": cid, "entered_at": entered_at or hub.now()} for cid in ids])


def add_order(hub: Hub, email: str, placed_at: datetime, total: str, *, number: str, sku: str = "SKU-1",
              title: str = "Thing") -> None:
    """Ingest a paid order in USD for the customer with ``email``."""
    ingestor(hub).ingest_and_commit([OrderRecord(
        instance="import.default", external_id=number, email=email, currency="USD", total=Decimal(total),
        placed_at=placed_at, source_updated_at=placed_at,
        lines=[OrderLineRecord(sku=sku, product_id=sku, title=title, quantity=1, price=Decimal(total))],
    )], source="import.default")


def sends(hub: Hub, **where: Any) -> list[Any]:
    """email_send rows, filtered by column values."""
    statement = select(SEND)
    for key, value in where.items():
        statement = statement.where(SEND.c[key] == value)
    with hub.transaction() as session:
        return list(session.execute(statement.order_by(SEND.c.id)))


def interactions(hub: Hub, kind: str) -> list[Any]:
    """Interactions of one kind."""
    table = Interaction.__table__
    with hub.transaction() as session:
        return list(session.execute(select(table).where(table.c.kind == kind).order_by(table.c.id)))


def consent_of(hub: Hub, customer_id: int) -> Any:
    """The customer's email consent row."""
    table = Consent.__table__
    with hub.transaction() as session:
        return session.execute(select(table).where(table.c.customer_id == customer_id,
                                                   table.c.channel == "email")).first()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def to_toml(table: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer for configuration files of subprocess tests."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in table.items() if not isinstance(value, dict)]
    text = (f"[{prefix}]\n" if prefix and lines else "") + "".join(line + "\n" for line in lines)
    for key, value in table.items():
        if isinstance(value, dict):
            text += "\n" + to_toml(value, f"{prefix}.{key}" if prefix else key)
    return text


def write_config(path: Any, database_url: str, server: Any, *, segments: dict[str, Any] | None = None,
                 **overrides: Any) -> Any:
    """Write a crmhub.toml for the test's database and SMTP server; returns its path."""
    config = {"hub": {"database_url": database_url, "secret_key": SECRET_KEY, "public_url": PUBLIC_URL},
              "plugins": {"email": {"main": email_settings(server, **overrides)}},
              "segments": segments if segments is not None else SEGMENTS}
    path.write_text(to_toml(config))
    return path
