"""RFM scores with consistent ties, and the segment map on the R × FM grid.

Scoring rule ("balanced bins on distinct values"):

1. Sort the *distinct* values with the number of customers having each.
2. Cut them into at most ``n_bins`` groups of consecutive values, one bin after the other:
   each bin takes distinct values until it holds about ``remaining customers / remaining
   bins`` customers, stopping at whichever boundary (before or after the value that
   crosses the target) is closer to the target. A value is never split, so equal values
   always get equal scores; a value holding more than its share (80 % of customers with
   one order) fills a bin alone, and the remaining bins share the rest evenly instead of
   being swallowed by it, which is what breaks naive quantiles.
3. The lowest group scores 1 and the highest ``n_bins``. With fewer groups than bins
   (few distinct values) the scores are spread over 1..n_bins (two groups get 1 and n);
   a single group (everybody equal) gets the middle score.

Recency is scored on "days since last order" with fewer days = higher score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crmhub.core.errors import InputError

from ._arrays import ArrayLike, FloatArray
from .segments import SEGMENTS, TIERS, fm_score, rfm_segment, segment_codes, tier_of

IntScores = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Binning:
    """Cut points learnt from one variable: group ``i`` holds values up to ``upper[i]``.

    Values are compared in the "higher is better" direction; recency is negated first.
    """

    upper: FloatArray  # inclusive upper bound of every group, ascending (after negation)
    lower: FloatArray  # smallest value seen in every group (after negation)
    scores: IntScores  # score of every group, ascending
    counts: npt.NDArray[np.int64]  # customers in every group
    higher_is_better: bool

    def score(self, values: ArrayLike) -> IntScores:
        """Score new values against these cut points (between two groups: the upper one)."""
        v = np.asarray(values, dtype=np.float64)
        v = v if self.higher_is_better else -v
        idx = np.searchsorted(self.upper, v, side="left")
        return self.scores[np.minimum(idx, self.upper.size - 1)]

    def range_of(self, score: int) -> tuple[float, float]:
        """The ``(low, high)`` range of original values that received ``score``."""
        i = int(np.searchsorted(self.scores, score))
        if i >= self.scores.size or self.scores[i] != score:
            raise InputError(f"no customer received score {score}")
        low, high = float(self.lower[i]), float(self.upper[i])
        return (low, high) if self.higher_is_better else (-high, -low)


def _greedy_ends(counts: npt.NDArray[np.int64], n_bins: int) -> list[int]:
    """Exclusive end index (into the distinct values) of each group, filling bins in order."""
    d = counts.size
    cum = np.cumsum(counts)
    ends: list[int] = []
    start, done = 0, 0
    for k in range(n_bins, 0, -1):
        if start >= d:
            break
        if d - start <= k:  # no more values than bins left: one value each
            ends.extend(range(start + 1, d + 1))
            break
        target = done + (int(cum[-1]) - done) / k
        j = int(np.searchsorted(cum, target, side="left"))  # value j crosses the target
        j = min(max(j, start), d - 1)
        over = cum[j] - target
        under = target - (cum[j - 1] if j > start else done)
        end = j if (j > start and under < over) else j + 1
        end = min(end, d - (k - 1))  # leave at least one value for every later bin
        ends.append(end)
        done = int(cum[end - 1])
        start = end
    return ends


def _imbalance(ends: list[int], counts: npt.NDArray[np.int64], n_bins: int) -> float:
    """Squared distance of the group sizes from equal bins (unused bins count as empty)."""
    cum = np.concatenate(([0], np.cumsum(counts)))
    sizes = np.diff(cum[np.array([0, *ends])])
    ideal = cum[-1] / n_bins
    return float(((sizes - ideal) ** 2).sum() + (n_bins - len(ends)) * ideal**2)


def _group_ends(counts: npt.NDArray[np.int64], n_bins: int) -> list[int]:
    """Balanced groups: fill bins from the low end and from the high end, keep the better.

    Filling from one end only lets a heavy value near the other end swallow its
    neighbours; trying both directions handles heavy values at either end (one-order
    customers at the bottom of F, yesterday's buyers at the top of R).
    """
    forward = _greedy_ends(counts, n_bins)
    d = counts.size
    backward_rev = _greedy_ends(counts[::-1], n_bins)
    backward = sorted(d - e for e in backward_rev[:-1]) + [d]
    if _imbalance(backward, counts, n_bins) < _imbalance(forward, counts, n_bins):
        return backward
    return forward


def fit_bins(values: ArrayLike, n_bins: int = 5, *, higher_is_better: bool = True) -> Binning:
    """Learn tie-consistent cut points for ``values`` (see the module docstring)."""
    if n_bins < 2:
        raise InputError("n_bins must be at least 2")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise InputError("RFM values must be a non-empty 1-d array of finite numbers")
    v = v if higher_is_better else -v
    distinct, counts = np.unique(v, return_counts=True)
    ends = _group_ends(counts, n_bins)
    starts = [0, *ends[:-1]]
    g = len(ends)
    if g == 1:
        scores = np.array([(n_bins + 1) // 2])
    else:
        scores = 1 + np.round(np.arange(g) * (n_bins - 1) / (g - 1)).astype(np.int64)
    return Binning(
        upper=distinct[np.array(ends) - 1],
        lower=distinct[np.array(starts)],
        scores=scores.astype(np.int64),
        counts=np.array([int(counts[s:e].sum()) for s, e in zip(starts, ends)], dtype=np.int64),
        higher_is_better=higher_is_better,
    )


def score(values: ArrayLike, n_bins: int = 5, *, higher_is_better: bool = True) -> IntScores:
    """Tie-consistent scores 1..n_bins of ``values`` (fit and apply :func:`fit_bins`)."""
    return fit_bins(values, n_bins, higher_is_better=higher_is_better).score(values)


@dataclass(frozen=True)
class RFMScores:
    """R, F and M scores of every customer, the cut points, segments and tiers."""

    r: IntScores
    f: IntScores
    m: IntScores
    r_bins: Binning
    f_bins: Binning
    m_bins: Binning
    n_bins: int

    @property
    def fm(self) -> IntScores:
        """The combined FM score: mean of F and M, rounded half up."""
        return fm_score(self.f, self.m)

    @property
    def segment(self) -> npt.NDArray[np.str_]:
        """Segment name of every customer."""
        return np.asarray(SEGMENTS, dtype=object)[
            segment_codes(self.r, self.f, self.m, self.n_bins)
        ]

    @property
    def tier(self) -> npt.NDArray[np.str_]:
        """Tier (core / potential / ordinary / churned) of every customer."""
        lookup = np.asarray([TIERS[s] for s in SEGMENTS], dtype=object)
        return lookup[segment_codes(self.r, self.f, self.m, self.n_bins)]


def rfm_scores(
    days_since_last: ArrayLike, frequency: ArrayLike, monetary: ArrayLike, n_bins: int = 5
) -> RFMScores:
    """Score every customer on recency, frequency and monetary value.

    :param days_since_last: days since the last order (fewer = better = higher R).
    :param frequency: number of orders (or purchase days) per customer.
    :param monetary: spend per customer (total or average: the caller decides; document it).
    :param n_bins: scores run 1..n_bins (default 5).
    """
    rb = fit_bins(days_since_last, n_bins, higher_is_better=False)
    fb = fit_bins(frequency, n_bins)
    mb = fit_bins(monetary, n_bins)
    return RFMScores(
        rb.score(days_since_last), fb.score(frequency), mb.score(monetary), rb, fb, mb, n_bins
    )


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def explain_rfm(
    scores: RFMScores, i: int, days_since_last: float, frequency: float, monetary: float
) -> str:
    """One line saying why customer ``i`` got its R, F and M scores and segment.

    Example: ``"R=5 because last order 6 days ago (R=5: 0-9 days); F=1 because 1 order
    (F=1: 1-1); M=3 because spend 54.20 (M=3: 40.10-61.00) -> New (tier potential)"``.
    """
    r, f, m = int(scores.r[i]), int(scores.f[i]), int(scores.m[i])
    r_lo, r_hi = scores.r_bins.range_of(r)
    f_lo, f_hi = scores.f_bins.range_of(f)
    m_lo, m_hi = scores.m_bins.range_of(m)
    name = rfm_segment(r, f, m, scores.n_bins)
    orders = "order" if frequency == 1 else "orders"
    return (
        f"R={r} because last order {_fmt(days_since_last)} days ago "
        f"(R={r}: {_fmt(r_lo)}-{_fmt(r_hi)} days); "
        f"F={f} because {_fmt(frequency)} {orders} (F={f}: {_fmt(f_lo)}-{_fmt(f_hi)}); "
        f"M={m} because spend {_fmt(monetary)} (M={m}: {_fmt(m_lo)}-{_fmt(m_hi)}) "
        f"-> {name} (tier {tier_of(name)})"
    )


__all__ = [
    "Binning",
    "RFMScores",
    "explain_rfm",
    "fit_bins",
    "rfm_scores",
    "rfm_segment",
    "score",
    "tier_of",
]
