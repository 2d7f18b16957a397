"""The email plugin's tables (its own alembic branch ``email`` in ``migrations/``).

``email_send`` is the heart: one row per customer per campaign or flow, created when the
customer is assigned to the treated or the control arm, and moved through::

    queued ──claim──▶ sending ──SMTP answer──▶ sent | bounced | deferred ──▶ … | failed
    held_out (control arm: never sent)         skipped (no consent, suppressed, erased)
    cancelled (a flow's customer left the segment before the email was due)

The claim (``sending``) is committed before the SMTP transaction starts, and a row in
``sending`` is never sent again: delivery is at most once per customer and step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from crmhub.core.storage.types import JSONType, UTCDateTime, utcnow

#: Statuses a row can be delivered from.
DUE = ("queued", "deferred")
#: Statuses after which nothing more happens to a row.
FINAL = ("sent", "bounced", "failed", "skipped", "cancelled", "held_out")


class EmailSend(SQLModel, table=True):
    """One customer's email of one campaign or flow (or their control-arm placeholder)."""

    __tablename__ = "email_send"
    __table_args__ = (
        UniqueConstraint("instance", "kind", "name", "customer_id", name="uq_email_send_step"),
        Index("ix_email_send_due", "instance", "status", "due_at"),
        Index("ix_email_send_customer", "customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instance: str = Field(max_length=120, description="The email instance, e.g. email.main")
    kind: str = Field(max_length=16, description="campaign or flow")
    name: str = Field(max_length=120, description="The campaign's or flow's name")
    customer_id: int = Field(foreign_key="customer.id")
    arm: str = Field(max_length=8, description="treated or control")
    status: str = Field(max_length=16)
    scheduled_at: datetime = Field(
        sa_type=UTCDateTime, description="First time it was due: the start of its conversion window, in both arms"
    )
    due_at: datetime = Field(sa_type=UTCDateTime, description="Earliest time of the next attempt")
    attempts: int = 0
    run_id: int | None = Field(default=None, description="The campaign run that claimed it")
    address_hash: str | None = Field(default=None, max_length=64, description="SHA-256 of the address sent to")
    message_id: str | None = Field(default=None, max_length=250)
    links: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    sending_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    clicked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unsubscribed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_code: int | None = Field(default=None, description="Last SMTP reply code")
    detail: str | None = Field(default=None, max_length=500, description="SMTP reply or reason")


class EmailSuppression(SQLModel, table=True):
    """An address never mailed again: hard bounce, complaint, manual, or erased customer.

    Keyed by the SHA-256 of the normalised address, so the entry outlives an erasure
    (``email`` is then cleared) without keeping the address readable."""

    __tablename__ = "email_suppression"

    address_hash: str = Field(primary_key=True, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    reason: str = Field(max_length=24, description="hard_bounce, complaint, manual or erased")
    detail: str | None = Field(default=None, max_length=500)
    instance: str = Field(max_length=120)
    customer_id: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class EmailCampaignRun(SQLModel, table=True):
    """One ``crmhub email send`` (or ``email.send_campaign`` job) of a campaign."""

    __tablename__ = "email_campaign_run"
    __table_args__ = (Index("ix_email_run_campaign", "instance", "campaign", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    instance: str = Field(max_length=120)
    campaign: str = Field(max_length=120)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="running", max_length=16, description="running, succeeded or failed")
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
