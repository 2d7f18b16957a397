"""Benchmark data for bench/scoring.py: simulated customers, orders, refunds and email
interactions COPY'd straight into a PostgreSQL database of its own (not timed).

Customers follow BG/NBD with CDNOW's dropout (a = 0.793) and CDNOW's Gamma-Gamma spend
(p = 6.25, q = 3.74, γ = 15.44); the purchase rate r = 1.0, α = 3.0 (weeks) and b = 6.0
are raised from CDNOW's (0.243, 4.414, 2.426) so that a million customers acquired over
three years place about ten million orders (CDNOW's own rates give ~2.7 per customer).
About 1 % of orders are cancelled and 2 % partly refunded; a fifth of the customers
received emails in the last 180 days (30 % opened, 5 % clicked), 5 % answered an NPS
survey and 0.5 % complained.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg

from crmhub.plugins.scoring.models import simulate

BG = (1.0, 3.0, 0.793, 6.0)
GG = (6.25, 3.74, 15.44)
END = "2025-12-31"
SPAN_WEEKS = 156.0
CHUNK = 500_000
NOW = "2026-01-01 00:00:00"


def _copy(cursor: Any, table: str, columns: str, lines: Iterator[str]) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for block in lines:
            copy.write(block)


def _customers(n: int) -> Iterator[str]:
    for start in range(0, n, CHUNK):
        ids = range(start + 1, min(start + CHUNK, n) + 1)
        yield "".join(f"{i}\tactive\tc{i}@bench.example\t[]\t[]\t{{}}\t{{}}\t{NOW}\t{NOW}\n" for i in ids)


def generate(url: str, n: int, seed: int = 1) -> dict[str, float]:
    """Fill the (migrated, empty) database at ``url``; returns counts and seconds."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    T = rng.uniform(0.0, SPAN_WEEKS, n)
    sim = simulate.bgnbd(n, BG, T, seed=rng)
    tx = simulate.transactions(sim, GG, calibration_end=END, days_per_unit=7.0, seed=rng)
    m = tx.customer.size
    amount = np.round(tx.amount, 2)
    cancelled = rng.random(m) < 0.01
    refunded = np.where(~cancelled & (rng.random(m) < 0.02), np.round(amount * rng.uniform(0.1, 1.0, m), 2), 0.0)
    net = np.where(cancelled, 0.0, amount - refunded)
    when = np.datetime_as_string(tx.when, unit="s")
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no FK triggers while loading
        _copy(cur, "customer", "id, status, email, tags, addresses, attributes, field_sources, created_at, updated_at",
              _customers(n))

        def orders() -> Iterator[str]:
            for s in range(0, m, CHUNK):
                e = min(s + CHUNK, m)
                rows = zip(range(s + 1, e + 1), (tx.customer[s:e] + 1).tolist(), when[s:e].tolist(),
                           (amount[s:e] * 10_000).astype(np.int64).tolist(),
                           (refunded[s:e] * 10_000).astype(np.int64).tolist(),
                           (net[s:e] * 10_000).astype(np.int64).tolist(), cancelled[s:e].tolist())
                yield "".join(
                    f"{i}\t{c}\tbench.shop\t{i}\t{'cancelled' if x else 'paid'}\tUSD\t{a}\t{r}\t{v}\t{w}\t"
                    f"{w if x else chr(92) + 'N'}\t[]\t{{}}\t{NOW}\t{NOW}\t{w}\n"
                    for i, c, w, a, r, v, x in rows
                )

        _copy(cur, '"order"', "id, customer_id, instance, external_id, status, currency, total, refunded, "
              "net_total_base, placed_at, cancelled_at, tags, attributes, created_at, updated_at, "
              "source_updated_at", orders())
        refund_ids = np.flatnonzero(refunded > 0)
        _copy(cur, "refund", "order_id, external_id, amount, created_at", iter([
            "".join(f"{i + 1}\tr{i + 1}\t{int(refunded[i] * 10_000)}\t{when[i]}\n" for i in refund_ids.tolist())
        ]))
        interactions = _interactions(rng, n)
        _copy(cur, "interaction", "customer_id, kind, occurred_at, instance, value, data", iter([interactions[0]]))
        for sequence, table in (("customer_id_seq", "customer"), ("order_id_seq", '"order"')):
            cur.execute(f"SELECT setval('{sequence}', (SELECT max(id) FROM {table}))")
        cur.execute("ANALYZE")
    return {"customers": n, "orders": m, "refunds": float(refund_ids.size), "interactions": interactions[1],
            "seconds": time.perf_counter() - started}


def _interactions(rng: np.random.Generator, n: int) -> tuple[str, float]:
    end = np.datetime64(END) + np.timedelta64(1, "D")
    lines: list[str] = []
    mailed = np.flatnonzero(rng.random(n) < 0.2) + 1
    sent = rng.poisson(5, mailed.size)
    people = np.repeat(mailed, sent)
    at = end - (rng.uniform(0, 180 * 86400, people.size)).astype("timedelta64[s]")
    opened, clicked = rng.random(people.size) < 0.3, rng.random(people.size) < 0.05
    for kind, mask in (("email_sent", np.ones(people.size, bool)), ("email_opened", opened), ("email_clicked", clicked)):
        stamps = np.datetime_as_string(at[mask], unit="s").tolist()
        lines += [f"{c}\t{kind}\t{w}\temail.main\t\\N\t{{}}\n" for c, w in zip(people[mask].tolist(), stamps)]
    surveyed = np.flatnonzero(rng.random(n) < 0.05) + 1
    answers = rng.integers(0, 11, surveyed.size)
    stamps = np.datetime_as_string(end - rng.uniform(0, 365 * 86400, surveyed.size).astype("timedelta64[s]"), unit="s")
    lines += [f'{c}\tsurvey_answer\t{w}\thubspot.main\t{v}\t{{"survey": "nps"}}\n'
              for c, w, v in zip(surveyed.tolist(), stamps.tolist(), answers.tolist())]
    unhappy = np.flatnonzero(rng.random(n) < 0.005) + 1
    lines += [f"{c}\tcomplaint\t{END} 12:00:00\thubspot.main\t\\N\t{{}}\n" for c in unhappy.tolist()]
    return "".join(lines), float(len(lines))


def create_database(server: str, name: str) -> str:
    """Drop and create database ``name`` on ``server`` (a SQLAlchemy URL), migrate it, and
    return its URL."""
    from crmhub.core.storage import migrate
    from crmhub.core.storage.engine import create_engine

    with psycopg.connect(server.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url
