"""Per-customer purchase summaries (x, t_x, T, monetary) from raw transactions.

This is the "standard set-up" of the BG/NBD literature, and what lifetimes'
``summary_data_from_transaction_data(..., freq="D", freq_multiplier=7)`` produces:

- a *purchase* is a calendar day (UTC) with at least one order; orders on the same day
  are one purchase whose amount is their sum;
- ``x`` = purchase days minus one (repeat purchases), ``t_x`` = time from the first to the
  last purchase day, ``T`` = time from the first purchase day to the calibration end;
- ``monetary`` = mean amount of the repeat purchase days (the first purchase is excluded,
  as the Gamma-Gamma model requires), 0 for customers without repeat purchases;
- orders after the calibration end day are ignored; a customer whose first order falls
  after it does not appear.

Everything is done with one sort of (customer, day) keys; no Python loop per customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from crmhub.core.errors import InputError

from ._arrays import ArrayLike, FloatArray, IntArray, broadcast

TimeUnit = Literal["days", "weeks"]
DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": 7.0}


@dataclass(frozen=True)
class Summary:
    """Per-customer summary; every array is aligned with ``customer`` (sorted ids)."""

    customer: npt.NDArray[Any]
    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    monetary: FloatArray
    first: npt.NDArray[np.datetime64]
    last: npt.NDArray[np.datetime64]
    calibration_end: np.datetime64
    time_unit: TimeUnit

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def days_since_last(self) -> FloatArray:
        """Whole days from each customer's last purchase day to the calibration end."""
        return (self.calibration_end - self.last).astype(np.float64)


class Collapsed(NamedTuple):
    """Distinct ``(x, t_x, T)`` rows, how many customers share each, and the way back.

    ``values[inverse]`` expands any per-row result to one value per original customer.
    """

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    weight: FloatArray
    inverse: IntArray


def to_days(when: ArrayLike) -> npt.NDArray[np.int64]:
    """Day numbers (days since 1970-01-01, UTC) of dates, datetimes, ISO strings or day ints."""
    array = np.asarray(when)
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64)
    try:
        return np.asarray(array, dtype="datetime64[D]").astype(np.int64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot read dates: {exc}") from exc


def summarize(
    customer: ArrayLike,
    when: ArrayLike,
    amount: ArrayLike | None = None,
    *,
    calibration_end: Any,
    time_unit: TimeUnit = "weeks",
) -> Summary:
    """Build the per-customer summary from transactions.

    :param customer: customer id of every transaction (any sortable dtype).
    :param when: date or UTC datetime of every transaction (``datetime64``, ISO strings,
        ``datetime.date`` objects, or integer day numbers).
    :param amount: value of every transaction; zeros when omitted.
    :param calibration_end: last day of the calibration period, inclusive.
    :param time_unit: ``"days"`` or ``"weeks"`` (days / 7) for ``t_x`` and ``T``.
    :returns: a :class:`Summary` with one row per customer seen up to ``calibration_end``.
    """
    if time_unit not in DAYS_PER_UNIT:
        raise InputError(f"time_unit must be 'days' or 'weeks', got {time_unit!r}")
    cust = np.asarray(customer)
    day = to_days(when)
    end = int(to_days(np.asarray([calibration_end]))[0])
    amt = np.zeros(day.shape[0]) if amount is None else np.asarray(amount, dtype=np.float64)
    if not (cust.ndim == day.ndim == amt.ndim == 1 and cust.shape == day.shape == amt.shape):
        raise InputError("customer, when and amount must be 1-d arrays of one length")
    keep = day <= end
    if not np.all(keep):
        cust, day, amt = cust[keep], day[keep], amt[keep]
    if day.size == 0:
        raise InputError("no transactions on or before the calibration end")

    ids, code = np.unique(cust, return_inverse=True)
    first_day = int(day.min())
    span = end - first_day + 1
    # One int64 key per (customer, day), ordered by customer then day.
    key = code.astype(np.int64) * span + (day - first_day)
    ukey, inv = np.unique(key, return_inverse=True)
    day_amount = np.bincount(inv, weights=amt, minlength=ukey.size)
    ucode = ukey // span
    uday = ukey - ucode * span + first_day

    days_per_customer = np.bincount(ucode, minlength=ids.size)
    start = np.concatenate(([0], np.cumsum(days_per_customer)[:-1]))
    first = uday[start]
    last = uday[start + days_per_customer - 1]
    repeat_total = np.bincount(ucode, weights=day_amount, minlength=ids.size) - day_amount[start]

    x = (days_per_customer - 1).astype(np.float64)
    unit = DAYS_PER_UNIT[time_unit]
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(x > 0, repeat_total / np.maximum(x, 1.0), 0.0)
    return Summary(
        customer=ids,
        x=x,
        t_x=(last - first) / unit,
        T=(end - first) / unit,
        monetary=monetary,
        first=first.astype("datetime64[D]"),
        last=last.astype("datetime64[D]"),
        calibration_end=np.datetime64(end, "D"),
        time_unit=time_unit,
    )


def holdout_purchases(
    summary: Summary, customer: ArrayLike, when: ArrayLike, holdout_end: Any
) -> FloatArray:
    """Purchase days of each summarised customer after the calibration end up to ``holdout_end``.

    Aligned with ``summary.customer``; transactions of customers not in the summary are
    ignored. Used to check predictions against what really happened.
    """
    cust = np.asarray(customer)
    day = to_days(when)
    end = int(summary.calibration_end.astype(np.int64))
    stop = int(to_days(np.asarray([holdout_end]))[0])
    keep = (day > end) & (day <= stop)
    cust, day = cust[keep], day[keep]
    pos = np.searchsorted(summary.customer, cust)
    pos = np.minimum(pos, summary.customer.size - 1)
    known = summary.customer[pos] == cust
    pairs = np.unique(pos[known].astype(np.int64) * (stop - end + 1) + (day[known] - end))
    return np.bincount(pairs // (stop - end + 1), minlength=summary.customer.size).astype(
        np.float64
    )


def collapse(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Collapsed:
    """Merge customers with identical ``(x, t_x, T)`` into weighted rows.

    Every likelihood in this package accepts the result's ``weight`` and gives exactly the
    log-likelihood of the uncollapsed data. On day-resolution data of a million customers
    the distinct rows are typically a few tens of thousands.
    """
    xs, ts, Ts = broadcast(("x", x), ("t_x", t_x), ("T", T))
    n = xs.shape[0]
    if n == 0:
        empty = np.empty(0)
        return Collapsed(empty, empty, empty, empty, np.empty(0, dtype=np.int64))
    order = np.lexsort((Ts, ts, xs))
    xs, ts, Ts = xs[order], ts[order], Ts[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = (xs[1:] != xs[:-1]) | (ts[1:] != ts[:-1]) | (Ts[1:] != Ts[:-1])
    starts = np.flatnonzero(new)
    weight = np.diff(np.append(starts, n)).astype(np.float64)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return Collapsed(xs[starts], ts[starts], Ts[starts], weight, inverse)
