"""Bulk statements that work the same on SQLite and PostgreSQL.

Ingest, scoring and segments move many rows at once: these helpers chunk ``IN`` lists
under the databases' parameter limits, insert many rows returning their ids in order, and
insert-or-ignore on a unique key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

T = TypeVar("T")
CHUNK = 900


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def in_values(session: Session, column: Column[Any], values: Sequence[Any]) -> Any:
    """``column IN values`` — on PostgreSQL as ``IN (SELECT unnest(array))``: one parameter
    instead of hundreds, a statement text the driver can cache, and a plan that probes the
    index per key (a plain ``= ANY(array)`` often becomes a sequential scan)."""
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, value=list(values), type_=postgresql.ARRAY(column.type))
        return column.in_(select(func.unnest(array)).scalar_subquery())
    return column.in_(values)


def select_in(
    session: Session, statement: Select[Any], column: Column[Any], values: Iterable[Any]
) -> list[Any]:
    """Run ``statement`` filtered by ``column IN values``, chunked; returns all rows."""
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    rows: list[Any] = []
    for part in chunks(distinct):
        rows.extend(session.execute(statement.where(in_values(session, column, part))).all())
    return rows


def insert_returning_ids(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` and return their new ids in the same order.

    On PostgreSQL the ids are drawn from the table's sequence first and the rows inserted
    with a pipelined executemany (several times faster than a multi-row INSERT … RETURNING,
    whose huge statement text dominates the cost); elsewhere INSERT … RETURNING is used.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": f'"{table.name}"', "n": len(rows)},
        ).scalars())
        session.execute(insert(table), [{**row, "id": new_id} for row, new_id in zip(rows, ids)])
        return [int(new_id) for new_id in ids]
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return [row[0] for row in session.execute(statement, rows).all()]


def insert_many(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (executemany; no ids returned)."""
    if rows:
        session.execute(insert(table), rows)


def insert_ignore(session: Session, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """Insert ``rows``, skipping any that collide on the unique ``keys``."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table).on_conflict_do_nothing(index_elements=keys)
    session.execute(statement, rows)


def update_many(session: Session, table: Table, rows: list[dict[str, Any]], key: str = "id") -> None:
    """Update rows by primary key; every dict holds ``key`` and the same set of columns."""
    if not rows:
        return
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for columns, group in groups.items():
        values = {name: bindparam(f"v_{name}") for name in columns if name != key}
        statement = update(table).where(table.c[key] == bindparam(f"k_{key}")).values(**values)
        params = [{f"v_{n}" if n != key else f"k_{key}": v for n, v in row.items()} for row in group]
        session.connection().execute(statement, params)
