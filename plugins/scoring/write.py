"""Write a run's scores: ``customer_score`` replaced in bulk, ``score_history`` per policy.

All in the caller's transaction, so readers (segments, the API) see the previous scores
until the run commits:

1. PostgreSQL: ``LOCK TABLE customer_score IN EXCLUSIVE MODE`` (readers go on, a second
   scoring run waits for this one);
2. the previous segment, tier and health band of every customer are read (codes only);
3. ``DELETE FROM customer_score``, then the new rows: ``COPY … FROM STDIN`` on
   PostgreSQL, ``executemany`` on SQLite, rendered chunk by chunk so memory stays flat;
4. history rows: with ``history = "changes"`` for customers scored for the first time or
   whose segment, tier or health band changed; with ``"every_run"`` for everyone;
5. scores of customers merged or erased while the run computed are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import numpy as np
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import case, delete, select, text
from sqlalchemy.orm import Session

from crmhub.core.models import Customer, CustomerScore, ScoreHistory
from crmhub.core.storage.types import MONEY_SCALE
from crmhub.plugins.scoring.compute import Scores
from crmhub.plugins.scoring.explain import DECIMALS, PREFIX_COLUMNS, Renderer
from crmhub.plugins.scoring.models.segments import SEGMENTS, TIERS
from crmhub.plugins.scoring.sql import fetch_columns
from crmhub.plugins.scoring.timing import Timings

SCORE = CustomerScore.__table__
HISTORY = ScoreHistory.__table__
CUSTOMER = Customer.__table__
CHUNK = 20_000
SCORE_COLUMNS = (
    "customer_id", "run_id", "scored_at", "recency_days", "r", "f", "m", "rfm_segment", "tier",
    "p_alive", "expected_purchases", "clv", "churn_risk", "health", "health_band", "model",
    "inputs", "explanation",
)
HISTORY_COLUMNS = (
    "customer_id", "run_id", "scored_at", "r", "f", "m", "rfm_segment", "tier", "p_alive", "clv",
    "churn_risk", "health", "health_band",
)
TIER_NAMES = tuple(dict.fromkeys(TIERS.values()))
BANDS = ("green", "yellow", "red")
Progress = Callable[[int], None]


def _codes(names: tuple[str, ...], values: np.ndarray) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(names)}
    return np.fromiter((lookup.get(v, -1) for v in values.tolist()), dtype=np.int64, count=values.size)


def changed(session: Session, s: Scores) -> np.ndarray:
    """Which customers get a history row under the ``changes`` policy (mask on the inputs)."""
    statement = select(
        SCORE.c.customer_id,
        case({n: i for i, n in enumerate(SEGMENTS)}, value=SCORE.c.rfm_segment, else_=-1),
        case({n: i for i, n in enumerate(TIER_NAMES)}, value=SCORE.c.tier, else_=-1),
        case({n: i for i, n in enumerate(BANDS)}, value=SCORE.c.health_band, else_=-1),
    )
    ids, seg, tier, band = fetch_columns(session, statement, 4)
    key = np.full((len(s.inputs), 3), -2, dtype=np.int64)  # -2: never scored
    if ids.size:
        cid = s.inputs.customer_id
        pos = np.minimum(np.searchsorted(cid, ids.astype(np.int64)), cid.size - 1)
        hit = cid[pos] == ids.astype(np.int64)
        key[pos[hit]] = np.column_stack([seg, tier, band])[hit].astype(np.int64)
    new = np.column_stack([_codes(SEGMENTS, s.segment), _codes(TIER_NAMES, s.tier), _codes(BANDS, s.health.band)])
    return np.any(key != new, axis=1)


def _history_rows(s: Scores, idx: np.ndarray, run_id: int, scored_at: str) -> list[tuple[Any, ...]]:
    clv = np.rint(np.nan_to_num(s.clv[idx]) * MONEY_SCALE).astype(np.int64)
    return list(zip(
        s.inputs.customer_id[idx].tolist(), [run_id] * idx.size, [scored_at] * idx.size,
        s.rfm.r[idx].tolist(), s.rfm.f[idx].tolist(), s.rfm.m[idx].tolist(),
        s.segment[idx].tolist(), s.tier[idx].tolist(), s.p_alive[idx].tolist(), clv.tolist(),
        s.churn.risk[idx].tolist(), s.health.score[idx].tolist(), s.health.band[idx].tolist(),
    ))


def _score_rows(renderer: Renderer, idx: np.ndarray, run_id: int, scored_at: str) -> list[tuple[Any, ...]]:
    """Rows for executemany (SQLite)."""
    s, col = renderer.s, renderer.col
    bodies = [body.split("\t", 1) for body in renderer.render(idx)]
    prefix = [
        np.round(col[name][idx], DECIMALS[name]).tolist() if name in DECIMALS else col[name][idx].tolist()
        for name in PREFIX_COLUMNS
    ]
    model = s.fitted.model
    return [
        (cid, run_id, scored_at, days, r, f, m, seg, tier, alive, exp, clv, risk, health, band, model, body[0], body[1])
        for (cid, days, r, f, m, seg, tier, alive, exp, clv, risk, health, band), body in zip(zip(*prefix), bodies)
    ]


def _copy_prefix(run_id: int, scored_at: str, model: str) -> str:
    """The template of a COPY line's score columns (see :data:`.explain.PREFIX_COLUMNS`)."""
    return f"%s\t{run_id}\t{scored_at}\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t{model}\t"


def _copy_text(rows: list[tuple[Any, ...]], n_columns: int) -> str:
    """Rows of numbers and plain names in COPY text format (a NaN float reads back as NaN)."""
    line = "\t".join(["%s"] * n_columns) + "\n"
    return "".join(line % row for row in rows)


class _Writer:
    """Inserts rows into one table: one COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, session: Session, table: Any, columns: tuple[str, ...]) -> None:
        self.session, self.table, self.columns = session, table, columns
        self.postgresql = session.get_bind().dialect.name == "postgresql"

    def write_all(self, blocks: Iterable[list[tuple[Any, ...]] | str]) -> None:
        """Insert every block: row tuples, or ready COPY text on PostgreSQL.

        On PostgreSQL all blocks go through one ``COPY … FROM STDIN`` whose data a worker
        thread sends while the next block is being rendered.
        """
        names = ", ".join(self.columns)
        connection = self.session.connection()
        if self.postgresql:
            raw: Any = connection.connection.driver_connection
            statement = f"COPY {self.table.name} ({names}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
                for block in blocks:
                    copy.write(block if isinstance(block, str) else _copy_text(block, len(self.columns)))
            return
        marks = ", ".join("?" * len(self.columns))
        for block in blocks:
            if block:  # sqlite3 stores NaN as NULL
                connection.exec_driver_sql(f"INSERT INTO {self.table.name} ({names}) VALUES ({marks})", block)


def _score_blocks(
    s: Scores, writer: _Writer, run_id: int, stamp: str, timer: Timings, progress: Progress | None
) -> Iterator[list[tuple[Any, ...]] | str]:
    """Rendered chunks of score rows (their rendering is timed as ``explain``)."""
    renderer = Renderer(s)
    prefix = _copy_prefix(run_id, stamp, s.fitted.model)
    n = len(s.inputs)
    for start in range(0, n, CHUNK):
        idx = np.arange(start, min(start + CHUNK, n))
        with timer.section("explain"):
            if writer.postgresql:
                block: list[tuple[Any, ...]] | str = "".join(renderer.render(idx, prefix))
            else:
                block = _score_rows(renderer, idx, run_id, stamp)
        yield block
        if progress is not None:
            progress(idx.size)


def write_scores(
    session: Session, s: Scores, *, run_id: int, scored_at: datetime, history: str,
    timer: Timings, progress: Progress | None = None,
) -> int:
    """Replace every customer's scores with this run's; returns the history rows written."""
    n = len(s.inputs)
    with timer.section("write"):
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("LOCK TABLE customer_score IN EXCLUSIVE MODE"))
        keep = np.ones(n, dtype=bool) if history == "every_run" else changed(session, s)
    stamp = scored_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    with timer.section("write"):
        session.execute(delete(SCORE))
    scores = _Writer(session, SCORE, SCORE_COLUMNS)
    with timer.section("write"):
        scores.write_all(_score_blocks(s, scores, run_id, stamp, timer, progress))
    with timer.section("write"):
        hist = np.flatnonzero(keep)
        history_writer = _Writer(session, HISTORY, HISTORY_COLUMNS)
        history_writer.write_all(
            _history_rows(s, hist[start : start + CHUNK], run_id, stamp) for start in range(0, hist.size, CHUNK)
        )
        inactive = select(CUSTOMER.c.id).where(CUSTOMER.c.status != "active")
        session.execute(delete(SCORE).where(SCORE.c.customer_id.in_(inactive)))
    return int(hist.size)
