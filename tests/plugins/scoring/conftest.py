"""Fixtures for the scoring tests: the CDNOW sample, its standard summary, and helpers that
ingest it and run the scorer on a test database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from crmhub.core.records import OrderRecord
from crmhub.plugins.scoring.models import summary

CDNOW = Path(__file__).parent / "data" / "CDNOW_sample.txt"


@dataclass(frozen=True)
class Transactions:
    """The raw CDNOW transactions."""

    customer: npt.NDArray[np.int64]
    when: npt.NDArray[np.datetime64]
    amount: npt.NDArray[np.float64]


def _dates(yyyymmdd: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    years = (yyyymmdd // 10000 - 1970).astype("datetime64[Y]")
    months = years.astype("datetime64[M]") + (yyyymmdd // 100 % 100 - 1)
    days = months.astype("datetime64[D]") + (yyyymmdd % 100 - 1).astype("timedelta64[D]")
    return days.astype("datetime64[D]")


@pytest.fixture(scope="session")
def cdnow_transactions() -> Transactions:
    """All 6,919 CDNOW sample transactions."""
    raw = np.loadtxt(CDNOW)
    return Transactions(raw[:, 0].astype(np.int64), _dates(raw[:, 2].astype(np.int64)), raw[:, 4])


@pytest.fixture(scope="session")
def cdnow(cdnow_transactions: Transactions) -> summary.Summary:
    """The standard set-up: calibration to 1997-09-30, weeks, purchases per distinct day."""
    t = cdnow_transactions
    return summary.summarize(
        t.customer, t.when, t.amount, calibration_end="1997-09-30", time_unit="weeks"
    )


# -- database tests ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cdnow_orders() -> list[OrderRecord]:
    """Every CDNOW transaction as an order record: one customer per master id (with a
    synthetic email), placed at midnight UTC of its day."""
    records = []
    for i, line in enumerate(CDNOW.read_text().split("\n")):
        if not line.strip():
            continue
        master, _, day, _, value = line.split()
        placed = datetime(int(day[:4]), int(day[4:6]), int(day[6:]), tzinfo=timezone.utc)
        records.append(OrderRecord(
            instance="cdnow.shop", external_id=str(i), customer_external_id=master,
            email=f"customer{master}@cdnow.example", currency="USD", total=Decimal(value),
            placed_at=placed, source_updated_at=placed,
        ))
    return records
