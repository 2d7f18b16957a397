"""email: sends with intent records, suppressions, campaign runs

Revision ID: email_0001
Revises:
Depends on: 0001 (core)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmhub.core.storage.types import JSONType, UTCDateTime

revision = "email_0001"
down_revision = None
branch_labels = ("email",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "email_send",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scheduled_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("address_hash", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=250), nullable=True),
        sa.Column("links", JSONType(), nullable=False),
        sa.Column("sending_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=True),
        sa.Column("clicked_at", UTCDateTime(), nullable=True),
        sa.Column("unsubscribed_at", UTCDateTime(), nullable=True),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance", "kind", "name", "customer_id", name="uq_email_send_step"),
    )
    op.create_index("ix_email_send_due", "email_send", ["instance", "status", "due_at"])
    op.create_index("ix_email_send_customer", "email_send", ["customer_id"])

    op.create_table(
        "email_suppression",
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("instance", sa.String(length=120), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address_hash"),
    )
    op.create_index("ix_email_suppression_customer_id", "email_suppression", ["customer_id"])

    op.create_table(
        "email_campaign_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=120), nullable=False),
        sa.Column("campaign", sa.String(length=120), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", JSONType(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_email_run_campaign", "email_campaign_run", ["instance", "campaign", "started_at"])


def downgrade() -> None:
    op.drop_table("email_campaign_run")
    op.drop_index("ix_email_suppression_customer_id", table_name="email_suppression")
    op.drop_table("email_suppression")
    op.drop_index("ix_email_send_customer", table_name="email_send")
    op.drop_index("ix_email_send_due", table_name="email_send")
    op.drop_table("email_send")
