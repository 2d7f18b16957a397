"""segments: removed segments keep their history; the last rule error is shown

Revision ID: 0003_segments
Revises: 0002_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmhub.core.storage.types

revision = "0003_segments"
down_revision = "0002_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", crmhub.core.storage.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("removed_at")
