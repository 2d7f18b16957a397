"""The RFM segment map: every cell of the R × FM grid belongs to exactly one segment.

FM is the mean of F and M rounded half up. The map is defined on the 5 × 5 grid as
rectangles of cells (rows R, columns FM)::

    R\\FM  1               2                  3                  4                5
    5      New             Potential Loyalist Potential Loyalist Champions        Champions
    4      Promising       Potential Loyalist Potential Loyalist Loyal            Champions
    3      About to Sleep  About to Sleep     Need Attention     Loyal            Loyal
    2      Hibernating     Hibernating        At Risk            At Risk          Can't Lose Them
    1      Lost            Lost               At Risk            Can't Lose Them  Can't Lose Them

With ``n`` bins other than 5, a score ``k`` is placed on the 5-grid by the centre of its
cell: ``1 + floor((k - 0.5) / n · 5)`` (so with 3 bins, 1 -> 1, 2 -> 3, 3 -> 5).

Tiers group the segments: core (Champions, Loyal), potential (Potential Loyalist, New,
Promising), ordinary (Need Attention, About to Sleep), churned (At Risk, Can't Lose Them,
Hibernating, Lost; all with R <= 2, i.e. lapsed: the win-back targets among them are At
Risk and Can't Lose Them).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from crmhub.core.errors import InputError

from ._arrays import ArrayLike

#: Segment names in a fixed order (their codes are indices into this tuple).
SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
)

#: Each segment as rectangles ``(r_low, r_high, fm_low, fm_high)`` on the 5 × 5 grid.
SEGMENT_CELLS: dict[str, tuple[tuple[int, int, int, int], ...]] = {
    "Champions": ((5, 5, 4, 5), (4, 4, 5, 5)),
    "Loyal": ((4, 4, 4, 4), (3, 3, 4, 5)),
    "Potential Loyalist": ((4, 5, 2, 3),),
    "New": ((5, 5, 1, 1),),
    "Promising": ((4, 4, 1, 1),),
    "Need Attention": ((3, 3, 3, 3),),
    "About to Sleep": ((3, 3, 1, 2),),
    "At Risk": ((2, 2, 3, 4), (1, 1, 3, 3)),
    "Can't Lose Them": ((2, 2, 5, 5), (1, 1, 4, 5)),
    "Hibernating": ((2, 2, 1, 2),),
    "Lost": ((1, 1, 1, 2),),
}

#: Tier of every segment.
TIERS: dict[str, str] = {
    "Champions": "core",
    "Loyal": "core",
    "Potential Loyalist": "potential",
    "New": "potential",
    "Promising": "potential",
    "Need Attention": "ordinary",
    "About to Sleep": "ordinary",
    "At Risk": "churned",
    "Can't Lose Them": "churned",
    "Hibernating": "churned",
    "Lost": "churned",
}


def in_segment(name: str, r5: int, fm5: int) -> bool:
    """Whether the 5-grid cell ``(r5, fm5)`` lies in segment ``name``'s rectangles."""
    return any(rl <= r5 <= rh and fl <= fm5 <= fh for rl, rh, fl, fh in SEGMENT_CELLS[name])


def _build_grid() -> npt.NDArray[np.int64]:
    grid = np.full((6, 6), -1, dtype=np.int64)
    for r5 in range(1, 6):
        for fm5 in range(1, 6):
            owners = [i for i, name in enumerate(SEGMENTS) if in_segment(name, r5, fm5)]
            if len(owners) != 1:
                raise AssertionError(f"cell R={r5} FM={fm5} belongs to {len(owners)} segments")
            grid[r5, fm5] = owners[0]
    return grid


#: ``GRID[r5, fm5]`` is the segment code of a 5-grid cell (row/column 0 unused).
GRID = _build_grid()


def fm_score(f: ArrayLike, m: ArrayLike) -> npt.NDArray[np.int64]:
    """Combined FM score: the mean of F and M, rounded half up."""
    return (np.asarray(f, dtype=np.int64) + np.asarray(m, dtype=np.int64) + 1) // 2


def to_grid5(score: ArrayLike, n_bins: int) -> npt.NDArray[np.int64]:
    """Place scores 1..n_bins on the 5-grid by the centre of their cell."""
    s = np.asarray(score, dtype=np.int64)
    if np.any(s < 1) or np.any(s > n_bins):
        raise InputError(f"scores must lie in 1..{n_bins}")
    if n_bins == 5:
        return s
    return 1 + np.floor((s - 0.5) / n_bins * 5).astype(np.int64)


def segment_codes(
    r: ArrayLike, f: ArrayLike, m: ArrayLike, n_bins: int = 5
) -> npt.NDArray[np.int64]:
    """Vectorised segment codes (indices into :data:`SEGMENTS`) of R, F, M scores."""
    return GRID[to_grid5(r, n_bins), to_grid5(fm_score(f, m), n_bins)]


def rfm_segment(r: int, f: int, m: int, n_bins: int = 5) -> str:
    """Segment name of one customer's R, F and M scores (each in 1..n_bins)."""
    return SEGMENTS[int(segment_codes(r, f, m, n_bins))]


def tier_of(segment: str) -> str:
    """Tier of a segment name: ``core``, ``potential``, ``ordinary`` or ``churned``."""
    try:
        return TIERS[segment]
    except KeyError:
        raise InputError(f"unknown RFM segment {segment!r}") from None
