"""SQL helpers of the scorer: UTC day numbers in SQL, and streaming query results into numpy.

Scoring reads one row per customer (a million rows at a time), so results are streamed
in partitions (a server-side cursor on PostgreSQL) and turned into float64 columns
without creating Python objects per value beyond the driver's tuples. Every selected
column must be numeric and non-NULL (use ``coalesce`` with a sentinel).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.functions import FunctionElement

FloatColumns = list[npt.NDArray[np.float64]]
EPOCH = date(1970, 1, 1)


class day_number(FunctionElement[int]):  # noqa: N801  (reads like the SQL function it makes)
    """Days since 1970-01-01 of a stored UTC datetime (its UTC calendar day), as an integer."""

    type = Integer()
    inherit_cache = True
    name = "day_number"


@compiles(day_number, "postgresql")
def _day_number_postgresql(element: day_number, compiler: Any, **kw: Any) -> str:
    (argument,) = element.clauses
    return f"(CAST({compiler.process(argument, **kw)} AS DATE) - DATE '1970-01-01')"


@compiles(day_number, "sqlite")
def _day_number_sqlite(element: day_number, compiler: Any, **kw: Any) -> str:
    (argument,) = element.clauses
    return f"CAST(julianday(date({compiler.process(argument, **kw)})) - 2440587.5 AS INTEGER)"


def day_of(moment: datetime) -> int:
    """The UTC day number (days since 1970-01-01) of an aware datetime."""
    return (moment.astimezone(timezone.utc).date() - EPOCH).days


def date_of_day(day: int) -> date:
    """The calendar date of a day number."""
    return date.fromordinal(EPOCH.toordinal() + int(day))


def fetch_columns(
    session: Session, statement: Select[Any], n_columns: int, *, chunk: int = 100_000
) -> FloatColumns:
    """Run ``statement`` and return its columns as float64 arrays (streamed in chunks).

    :param n_columns: the number of selected columns (for empty results).
    """
    result = session.connection().execute(statement, execution_options={"yield_per": chunk})
    parts: list[npt.NDArray[np.float64]] = []
    for rows in result.partitions():
        parts.append(np.array([tuple(row) for row in rows], dtype=np.float64).reshape(-1, n_columns))
    if not parts:
        return [np.empty(0) for _ in range(n_columns)]
    table = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return [np.ascontiguousarray(table[:, i]) for i in range(n_columns)]


def align(
    ids: npt.NDArray[np.int64], keys: npt.NDArray[np.float64], values: npt.NDArray[np.float64],
    fill: float = 0.0,
) -> npt.NDArray[np.float64]:
    """Spread ``values`` keyed by customer id onto the sorted ``ids`` (``fill`` elsewhere)."""
    out = np.full(ids.shape[0], fill, dtype=np.float64)
    if keys.size == 0 or ids.size == 0:
        return out
    k = keys.astype(np.int64)
    pos = np.minimum(np.searchsorted(ids, k), ids.size - 1)
    hit = ids[pos] == k
    out[pos[hit]] = values[hit]
    return out
