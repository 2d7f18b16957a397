"""Helpers of the scoring database tests: ingest, configure, score, read scores back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from crmhub.core.hub import Hub
from crmhub.core.ingest import ingestor
from crmhub.core.models import Customer, CustomerScore

CALIBRATION_END = "1997-09-30"
#: The standard CDNOW set-up as scorer settings: weeks, BG/NBD for scores (customer 1's
#: published P(alive) and 39-week expectation), Pareto/NBD and MBG/NBD fitted alongside.
CDNOW_SETTINGS = {
    "time_unit": "weeks",
    "model": "bgnbd",
    "compare_models": ["pareto_nbd", "mbgnbd"],
    "horizon_days": 273,
}


def ingest(hub: Hub, records: list[Any], batch: int = 2000) -> None:
    """Ingest records through the ingest service, a transaction per batch."""
    service = ingestor(hub)
    for start in range(0, len(records), batch):
        service.ingest_and_commit(records[start : start + batch], source="test")


def scoring_hub(make_hub: Callable[..., Hub], **settings: Any) -> Hub:
    """A hub with one scoring instance, ``scoring.main``, configured with ``settings``."""
    return make_hub(plugins={"scoring": {"main": settings}})


def score(hub: Hub, as_of: str | None = None, instance: str = "scoring.main") -> dict[str, Any]:
    """Run the scorer through the plugin façade, as of the end of ``as_of`` (or now)."""
    from crmhub.plugins.scoring.run import parse_as_of

    return hub.plugins.score_customers(hub, hub.instance(instance), parse_as_of(as_of, hub.now()))


def score_rows(hub: Hub) -> dict[int, dict[str, Any]]:
    """customer_score rows by customer id."""
    with hub.transaction() as session:
        rows = session.execute(select(CustomerScore.__table__)).mappings().all()
    return {row["customer_id"]: dict(row) for row in rows}


def customer_id(hub: Hub, email: str) -> int:
    """The hub id of the customer with ``email``."""
    with hub.transaction() as session:
        return int(session.execute(select(Customer.id).where(Customer.email == email)).scalar_one())
