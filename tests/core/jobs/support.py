"""Helpers of the job-layer tests: a settable clock, the testsource data file, counts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from crmhub.core.hub import Hub
from crmhub.core.models import Customer, Job, SourceIdentity

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def rows(
    count: int, *, start: int = 1, at: datetime = T0, suffix: str = "", step: float = 1.0
) -> list[dict[str, Any]]:
    """Remote customers ``start..start+count-1``, updated ``step`` seconds apart."""
    return [
        {
            "id": str(i),
            "email": f"c{i}@example.com",
            "first_name": f"Name{i}{suffix}",
            "updated_at": (at + timedelta(seconds=i * step)).isoformat(),
        }
        for i in range(start, start + count)
    ]


def write_source(path: Path, data: Iterable[dict[str, Any]]) -> None:
    """Replace the testsource data file atomically."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text("\n".join(json.dumps(row) for row in data) + "\n")
    os.replace(temporary, path)


def read_source(path: Path) -> list[dict[str, Any]]:
    """The rows of a data file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def hub_identities(
    hub: Hub, instance: str = "testsource.main"
) -> dict[str, tuple[str | None, str | None]]:
    """external id → (email, first name) of the hub's customers from ``instance``."""
    identity, customer = SourceIdentity.__table__, Customer.__table__
    with hub.engine.connect() as connection:
        found = connection.execute(
            select(identity.c.external_id, customer.c.email, customer.c.first_name)
            .join(customer, customer.c.id == identity.c.customer_id)
            .where(identity.c.instance == instance)
        ).all()
    return {row.external_id: (row.email, row.first_name) for row in found}


def source_view(data: Iterable[dict[str, Any]]) -> dict[str, tuple[str | None, str | None]]:
    """The same shape as :func:`hub_identities`, from the source's rows."""
    return {row["id"]: (row["email"], row["first_name"]) for row in data}


def count(hub: Hub, table: Any, *where: Any) -> int:
    """Rows of ``table`` matching ``where``."""
    with hub.engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        )


def job_row(hub: Hub, job_id: int) -> Any:
    """A job's row."""
    with hub.engine.connect() as connection:
        return connection.execute(select(Job.__table__).where(Job.__table__.c.id == job_id)).one()
