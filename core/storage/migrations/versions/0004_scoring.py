"""Scoring: score_run.details, customer_stats.refunded_orders, no foreign keys on scores

- ``score_run.details``: what a scoring run reports beyond the fitted parameters (where
  its inputs came from, the model used or why a fallback was, counts, timings).
- ``customer_stats.refunded_orders``: counted orders with a refund (a health input), kept
  with the other statistics; filled here for existing rows.
- ``customer_score`` and ``score_history`` lose their foreign keys: both are rewritten in
  bulk by every scoring run, and the per-row checks locked every customer row and doubled
  the cost of writing a million scores. Merges and erasures delete a customer's rows.

Revision ID: 0004_scoring
Revises: 0003_segments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmhub.core.storage.types

revision = "0004_scoring"
down_revision = "0003_segments"
branch_labels = None
depends_on = None

SCORE_TABLES = ("customer_score", "score_history")
REFERENCES = {"customer_id": "customer", "run_id": "score_run"}
CONVENTION = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _fk_name(table: str, column: str) -> str:
    return f"fk_{table}_{column}_{REFERENCES[column]}"


def upgrade() -> None:
    with op.batch_alter_table("score_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("details", crmhub.core.storage.types.JSONType(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("customer_stats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refunded_orders", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        'UPDATE customer_stats SET refunded_orders = (SELECT count(*) FROM "order" o '
        "WHERE o.customer_id = customer_stats.customer_id AND o.refunded > 0 "
        "AND o.deleted_at IS NULL AND o.cancelled_at IS NULL AND o.status NOT IN ('cancelled', 'failed'))"
    )
    bind = op.get_bind()
    for table in SCORE_TABLES:
        keys = sa.inspect(bind).get_foreign_keys(table)
        if bind.dialect.name == "sqlite":  # unnamed constraints: name them by convention to drop them
            with op.batch_alter_table(table, naming_convention=CONVENTION, recreate="always") as batch_op:
                for key in keys:
                    batch_op.drop_constraint(_fk_name(table, key["constrained_columns"][0]), type_="foreignkey")
        else:
            for key in keys:
                op.drop_constraint(key["name"], table, type_="foreignkey")


def downgrade() -> None:
    for table in SCORE_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, referred in REFERENCES.items():
                batch_op.create_foreign_key(_fk_name(table, column), referred, [column], ["id"])
    with op.batch_alter_table("customer_stats", schema=None) as batch_op:
        batch_op.drop_column("refunded_orders")
    with op.batch_alter_table("score_run", schema=None) as batch_op:
        batch_op.drop_column("details")
