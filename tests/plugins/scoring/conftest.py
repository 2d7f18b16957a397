"""Fixtures for the scoring-model tests: the CDNOW sample and its standard summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

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
