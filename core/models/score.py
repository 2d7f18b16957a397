"""Scores: the current scores of each customer, their history, and scoring runs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from crmhub.core.storage.types import JSONType, Money, UTCDateTime, utcnow


class ScoreRun(SQLModel, table=True):
    """One scoring run: when, as of which day, and the fitted model parameters.

    ``details`` holds what the scorer reports beyond the parameters (where its inputs came
    from, the model used or why a fallback was, counts per segment, timings …).
    """

    __tablename__ = "score_run"

    id: int | None = Field(default=None, primary_key=True)
    instance: str = Field(default="scoring.main", max_length=120)
    as_of: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="running", max_length=16)
    customers_scored: int = Field(default=0)
    time_unit: str = Field(default="days", max_length=8)
    models: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False, server_default="{}")
    )
    message: str | None = Field(default=None)


class CustomerScore(SQLModel, table=True):
    """The latest scores of one customer, with their inputs and a readable explanation.

    Rewritten in bulk by every scoring run, so it has no foreign keys (their per-row
    checks would lock a million customer rows and double the cost of the write); merges
    and erasures delete a customer's rows, and a run drops rows of customers that stopped
    being active while it computed.
    """

    __tablename__ = "customer_score"
    __table_args__ = (Index("ix_score_segment", "rfm_segment"),)

    customer_id: int = Field(primary_key=True, description="customer.id")
    run_id: int | None = Field(default=None, description="score_run.id")
    scored_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    recency_days: int | None = None
    r: int | None = None
    f: int | None = None
    m: int | None = None
    rfm_segment: str | None = Field(default=None, max_length=40)
    tier: str | None = Field(default=None, max_length=16)
    p_alive: float | None = None
    expected_purchases: float | None = None
    clv: Decimal | None = Field(default=None, sa_type=Money)
    churn_risk: float | None = None
    health: float | None = None
    health_band: str | None = Field(default=None, max_length=8)
    model: str | None = Field(default=None, max_length=40, description="model or heuristic used")
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    explanation: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )


class ScoreHistory(SQLModel, table=True):
    """A customer's scores after a run, kept when the segment, tier or band changed
    (or the first time a customer is scored), so trends and transitions are visible. Written
    in bulk like :class:`CustomerScore`, without foreign keys."""

    __tablename__ = "score_history"
    __table_args__ = (Index("ix_score_history_customer", "customer_id", "scored_at"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(description="customer.id")
    run_id: int | None = Field(default=None, description="score_run.id")
    scored_at: datetime = Field(sa_type=UTCDateTime)
    r: int | None = None
    f: int | None = None
    m: int | None = None
    rfm_segment: str | None = Field(default=None, max_length=40)
    tier: str | None = Field(default=None, max_length=16)
    p_alive: float | None = None
    clv: Decimal | None = Field(default=None, sa_type=Money)
    churn_risk: float | None = None
    health: float | None = None
    health_band: str | None = Field(default=None, max_length=8)
