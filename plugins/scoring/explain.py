"""The stored ``inputs`` and human-readable ``explanation`` of every score, as JSON text.

``explanation`` holds four sentences, e.g. for CDNOW's first customer::

    rfm:       R=5 because last order 59 days ago (0-99 days); F=3 because 3 orders (3-3);
               M=4 because spend 74.02 (46.28-94.79) -> Champions (tier core)
    purchases: P(alive) 0.73, 1.23 purchases expected in the next 273 days (BG/NBD);
               24.65 per purchase (Gamma-Gamma); CLV 36.30 over 12 months
    churn:     Churn risk 0.19: P(alive) 0.73 (weight 50%); last order 59 days ago, 0.7x
               the usual gap of 87 days (overdue 0.10, weight 50%)
    health:    Health 96 (green): recency 0.90 (59 days since the last order, usual gap 87);
               frequency trend 1.00 (1 vs 0 orders); spend trend 1.00 (14.96 vs 0.00);
               refunds/complaints 1.00 (0 of 3 orders refunded); no data: engagement, satisfaction

or, in a small shop, ``purchases: Heuristic used because only 3 customers have a repeat
purchase; at least 30 are needed to fit a purchase model. P(alive) …``. ``inputs`` holds
the numbers behind them (keys without data are left out).

A million rows must not cost a minute, so customers are rendered by groups that share
which data they have: each group gets one ``%`` template for the whole row, and each
customer costs one formatting call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from crmhub.core.errors import InputError
from crmhub.core.storage.types import MONEY_SCALE
from crmhub.plugins.scoring.compute import Scores
from crmhub.plugins.scoring.models.segments import rfm_segment, tier_of

FLAGS = ("frequency_trend", "spend_trend", "engagement", "opened", "clicked", "nps", "csat",
         "complaints", "emails")


def _safe(text: str) -> str:
    """Text that can sit inside a JSON string of a ``%`` template."""
    return json.dumps(text)[1:-1].replace("%", "%%")


def _pct(share: float) -> str:
    return f"{share:.0%}".replace("%", "%%")


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def format_values(values: np.ndarray, decimals: int) -> np.ndarray:
    """``values`` as strings with ``decimals`` places (an object array; NaN as ``nan``).

    Formatting a float costs more than everything else a row needs, and most columns
    repeat few values (scores, days, probabilities at two places): each distinct value is
    formatted once and looked up.
    """
    v = np.asarray(values, dtype=np.float64)
    missing = ~np.isfinite(v)
    scale = 10**decimals
    k = np.rint(np.where(missing, 0.0, v) * scale).astype(np.int64)
    if k.size == 0:
        return np.empty(0, dtype=object)
    low, high = int(k.min()), int(k.max())
    if high - low < k.size // 4:
        codes = np.arange(low, high + 1)
        inverse = k - low
    else:
        codes, inverse = np.unique(k, return_inverse=True)
    if decimals:
        table = [f"{c / scale:.{decimals}f}" for c in codes.tolist()]
    else:
        table = list(map(str, codes.tolist()))
    out = np.array(table, dtype=object)[inverse]
    if missing.any():
        out[missing] = "nan"
    return out


def _counted_at(values: np.ndarray, noun: str, idx: np.ndarray) -> np.ndarray:
    return counted(values[idx], noun)


def _looked_up(table: np.ndarray, code: np.ndarray, idx: np.ndarray) -> np.ndarray:
    result: np.ndarray = table[code[idx]]
    return result


def _dates(days: np.ndarray) -> np.ndarray:
    """ISO dates of day numbers."""
    return np.datetime_as_string(days.astype(np.int64).astype("datetime64[D]")).astype(object)


def counted(values: np.ndarray, noun: str) -> np.ndarray:
    """``"1 order"``, ``"13 orders"`` … for whole counts (looked up, like :func:`format_values`)."""
    k = np.rint(np.nan_to_num(np.asarray(values, dtype=np.float64))).astype(np.int64)
    if k.size == 0:
        return np.empty(0, dtype=object)
    codes, inverse = np.unique(k, return_inverse=True)
    table = [f"{c} {noun}" if c == 1 else f"{c} {noun}s" for c in codes.tolist()]
    return np.array(table, dtype=object)[inverse.reshape(-1)]


def _ranges(bins: Any, n_bins: int, unit: str) -> np.ndarray:
    """The value range behind every score (index = score), e.g. ``0-99 days``."""
    out = []
    for score in range(n_bins + 1):
        try:
            low, high = bins.range_of(score)
            out.append(f"{_num(low)}-{_num(high)}{unit}")
        except InputError:  # a score no customer received
            out.append("")
    return np.array(out, dtype=object)


@dataclass
class _Piece:
    """A bit of template and the columns its ``%`` fields take."""

    text: str
    columns: tuple[str, ...] = ()


class Renderer:
    """Renders ``inputs`` and ``explanation`` JSON for chunks of one run's customers."""

    def __init__(self, s: Scores) -> None:
        self.s = s
        i, a, h, c = s.inputs, s.activity, s.health, s.churn
        unit = 7.0 if s.settings.time_unit == "weeks" else 1.0
        self.col: dict[str, np.ndarray] = {
            "customer_id": i.customer_id,
            "clv_raw": np.rint(np.nan_to_num(s.clv) * MONEY_SCALE).astype(np.int64),
            "orders": i.orders, "purchase_days": i.purchase_days, "x": i.x,
            "revenue": i.revenue, "refunded": i.refunded, "repeat_mean": i.repeat_mean,
            "t_x": i.t_x_days / unit, "T": i.age_days / unit, "days": i.days_since_last,
            "r": s.rfm.r, "f": s.rfm.f, "m": s.rfm.m, "frequency": s.frequency, "monetary": s.monetary,
            "segment": s.segment, "tier": s.tier, "p_alive": s.p_alive, "expected": s.expected_purchases,
            "spend": s.spend, "clv": s.clv, "risk": c.risk, "ratio": c.overdue_ratio, "gap": c.usual_gap_days,
            "overdue": c.overdue, "health": h.score, "band": h.band,
            "orders_now": a.orders_now, "orders_before": a.orders_before, "spend_now": a.spend_now,
            "spend_before": a.spend_before, "refunded_orders": i.refunded_orders,
            "sent": a.emails_sent, "opened": a.emails_opened, "clicked": a.emails_clicked,
            "nps": a.nps, "csat": a.csat, "complaints": a.complaints,
            **{f"h_{k}": v for k, v in h.components.items()},
            # the same values at the precision of the sentences
            "p_alive2": s.p_alive, "expected2": s.expected_purchases, "risk2": c.risk, "health_int": h.score,
        }
        words = {"days_text": ("day", i.days_since_last), "orders_text": ("order", i.orders),
                 "frequency_text": ("order", s.frequency), "complaints_text": ("complaint", a.complaints)}
        rfm_parts = self._rfm_tables()
        #: string columns made per chunk (a million Python strings held at once cost memory)
        self.derived: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "first": lambda idx: _dates(i.first_day[idx]),
            "last": lambda idx: _dates(i.last_day[idx]),
            **{name: partial(_counted_at, values, noun) for name, (noun, values) in words.items()},
            **{name: partial(_looked_up, table, code) for name, (table, code) in rfm_parts.items()},
        }
        if s.heuristic is not None:
            self.col.update(continuation=s.heuristic.continuation * 100.0)
        self._cache: tuple[int, int, dict[Any, np.ndarray]] = (-1, -1, {})
        places = 4 if s.settings.time_unit == "weeks" else 0
        self.decimals = {**DECIMALS, "t_x": places, "T": places}
        flags = {
            "frequency_trend": np.isfinite(h.components["frequency_trend"]),
            "spend_trend": np.isfinite(h.components["spend_trend"]),
            "engagement": np.isfinite(h.components["engagement"]),
            "opened": np.isfinite(a.emails_opened), "clicked": np.isfinite(a.emails_clicked),
            "nps": np.isfinite(a.nps), "csat": np.isfinite(a.csat),
            "complaints": np.nan_to_num(a.complaints) > 0, "emails": np.isfinite(a.emails_sent),
        }
        code = np.zeros(len(i), dtype=np.int64)
        for name in FLAGS:
            code = code * 2 + flags[name]
        self.code = code
        self._templates: dict[tuple[int, str], tuple[str, tuple[str, ...]]] = {}

    # -- the pieces ------------------------------------------------------------

    def _inputs(self, on: dict[str, bool]) -> list[_Piece]:
        p = [_Piece('{"orders": %s, "purchase_days": %s, "first_order": "%s", "last_order": "%s", '
                    '"revenue": %s, "refunded": %s, "repeat_mean": %s, "x": %s, "t_x": %s, '
                    '"T": %s, "recent": {"orders": %s, "spend": %s}, '
                    '"before": {"orders": %s, "spend": %s}, "refunded_orders": %s',
                    ("orders", "purchase_days", "first", "last", "revenue", "refunded", "repeat_mean",
                     "x", "t_x", "T", "orders_now", "spend_now", "orders_before", "spend_before",
                     "refunded_orders"))]
        if self.s.activity.lookback_orders is not None:
            p.append(_Piece(', "rfm_window": {"orders": %s, "spend": %s}', ("frequency", "monetary")))
        if on["emails"]:
            fields = ['"sent": %s'] + ['"opened": %s'] * on["opened"] + ['"clicked": %s'] * on["clicked"]
            p.append(_Piece(', "emails": {' + ", ".join(fields) + "}",
                            ("sent",) + ("opened",) * on["opened"] + ("clicked",) * on["clicked"]))
        for name in ("nps", "csat", "complaints"):
            if on[name]:
                p.append(_Piece(f', "{name}": %s', (name,)))
        p.append(_Piece(f', "time_unit": "{self.s.settings.time_unit}"' + "}"))
        return p

    def _rfm_tables(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The parts of the RFM sentence fixed by the scores (and this run's bins), as
        lookup tables with each customer's index into them."""
        s, n = self.s, self.s.rfm.n_bins
        r, f, m = s.rfm.r, s.rfm.f, s.rfm.m
        rr, fr, mr = (_ranges(b, n, u) for b, u in ((s.rfm.r_bins, " days"), (s.rfm.f_bins, ""), (s.rfm.m_bins, "")))
        window = s.settings.days("rfm_lookback")
        within = f" in the last {window} days" if window else ""
        size = n + 1
        a = np.array([f"R={i} because last order " for i in range(size)], dtype=object)
        b = np.array([f" ago ({rr[i]}); F={j} because " for i in range(size) for j in range(size)], dtype=object)
        c = np.array([f"{within} ({fr[i]}); M={j} because spend " for i in range(size) for j in range(size)], dtype=object)
        d = np.empty(size**3, dtype=object)
        for i in range(1, size):
            for j in range(1, size):
                for k in range(1, size):
                    name = rfm_segment(i, j, k, n)
                    d[(i * size + j) * size + k] = f" ({mr[k]}) -> {name} (tier {tier_of(name)})"
        return {"rfm_a": (a, r), "rfm_b": (b, r * size + f), "rfm_c": (c, f * size + m),
                "rfm_d": (d, (r * size + f) * size + m)}

    def _rfm(self) -> list[_Piece]:
        return [_Piece("%s%s%s%s%s%s%s", ("rfm_a", "days_text", "rfm_b", "frequency_text", "rfm_c",
                                           "monetary", "rfm_d"))]

    def _purchases(self) -> list[_Piece]:
        s, cfg = self.s, self.s.settings
        if s.heuristic is not None:
            return [_Piece(
                f"Heuristic used because {_safe(s.heuristic.reason)}. P(alive) %s: %s%% of "
                "customers at this purchase count bought again; last order %s ago, usual gap "
                f"%s days; %s purchases expected in the next {cfg.horizon_days} days at %s "
                f"each; CLV %s over {cfg.clv_months} months",
                ("p_alive2", "continuation", "days_text", "gap", "expected2", "spend", "clv"))]
        spend = "Gamma-Gamma" if s.fitted.spend is not None else "own mean repeat spend, spend model not used"
        return [_Piece(
            f"P(alive) %s, %s purchases expected in the next {cfg.horizon_days} days "
            f"({s.model_label}); %s per purchase ({spend}); CLV %s over {cfg.clv_months} months",
            ("p_alive2", "expected2", "spend", "clv"))]

    def _churn(self) -> list[_Piece]:
        w = self.s.churn.model_weight
        model = _Piece(f"P(alive) %s (weight {_pct(w)}); ", ("p_alive2",)) if w > 0 else _Piece("")
        return [_Piece("Churn risk %s: ", ("risk2",)), model, _Piece(
            f"last order %s ago, %sx the usual gap of %s days (overdue %s, weight {_pct(1 - w)})",
            ("days_text", "ratio", "gap", "overdue"))]

    def _health(self, on: dict[str, bool]) -> list[_Piece]:
        parts = [_Piece("recency %s (%s since the last order, usual gap %s)", ("h_recency", "days_text", "gap"))]
        missing = []
        if on["frequency_trend"]:
            parts.append(_Piece("frequency trend %s (%s vs %s orders)",
                                ("h_frequency_trend", "orders_now", "orders_before")))
        else:
            missing.append("frequency trend")
        if on["spend_trend"]:
            parts.append(_Piece("spend trend %s (%s vs %s)", ("h_spend_trend", "spend_now", "spend_before")))
        else:
            missing.append("spend trend")
        if on["engagement"]:
            acts = [(a, c) for a, c, f in (("opened %s", "opened", on["opened"]), ("clicked %s", "clicked", on["clicked"])) if f]
            parts.append(_Piece(f"engagement %s ({' and '.join(a for a, _ in acts)} of %s emails)",
                                ("h_engagement", *(c for _, c in acts), "sent")))
        else:
            missing.append("engagement")
        answers = [(a, c) for a, c in (("NPS %s", "nps"), ("CSAT %s", "csat")) if on[c]]
        if answers:
            parts.append(_Piece(f"satisfaction %s ({', '.join(a for a, _ in answers)})",
                                ("h_satisfaction", *(c for _, c in answers))))
        else:
            missing.append("satisfaction")
        complaints = (", %s", ("complaints_text",)) if on["complaints"] else ("", ())
        parts.append(_Piece(f"refunds/complaints %s (%s of %s refunded{complaints[0]})",
                            ("h_refunds", "refunded_orders", "orders_text", *complaints[1])))
        out = [_Piece("Health %s (%s): ", ("health_int", "band"))]
        for k, part in enumerate(parts):
            out.append(_Piece(("; " if k else "") + part.text, part.columns))
        if missing:
            out.append(_Piece("; no data: " + ", ".join(missing)))
        return out

    # -- assembling --------------------------------------------------------------

    def _template(self, code: int, prefix: str) -> tuple[str, tuple[str, ...]]:
        key = (code, prefix)
        if key not in self._templates:
            bits = [(code >> (len(FLAGS) - 1 - k)) & 1 for k in range(len(FLAGS))]
            on = dict(zip(FLAGS, map(bool, bits)))
            pieces = self._inputs(on) + [_Piece('\t{"rfm": "')] + self._rfm()
            pieces += [_Piece('", "purchases": "')] + self._purchases() + [_Piece('", "churn": "')]
            pieces += self._churn() + [_Piece('", "health": "')] + self._health(on) + [_Piece('"}')]
            text = "".join(p.text for p in pieces)
            columns = tuple(c for p in pieces for c in p.columns)
            if prefix:  # a COPY line: literal backslashes are escaped, prefix columns first
                text = prefix + text.replace("\\", "\\\\") + "\n"
                columns = PREFIX_COLUMNS + columns
            self._templates[key] = (text, columns)
        return self._templates[key]

    def _strings(self, name: str, idx: np.ndarray) -> np.ndarray:
        """Column ``name`` of the customers at ``idx`` as strings (cached for the chunk)."""
        key = (int(idx[0]), int(idx.size)) if idx.size else (-1, 0)
        if self._cache[:2] != key:
            self._cache = (*key, {})
        cache = self._cache[2]
        if name not in cache:
            if name in self.derived:
                cache[name] = self.derived[name](idx)
            else:
                source, places = self.col[name], self.decimals.get(name)
                alias = (id(source), places)  # the same array at the same precision: format once
                if alias not in cache:
                    values = source[idx]
                    cache[alias] = values.astype(object) if places is None else format_values(values, places)
                cache[name] = cache[alias]
        return cache[name]

    def render(self, idx: np.ndarray, prefix: str = "") -> list[str]:
        """``inputs<TAB>explanation`` of the customers at ``idx``; with ``prefix`` (a template
        for the score columns, see :data:`PREFIX_COLUMNS`) whole COPY lines instead."""
        out = np.empty(idx.size, dtype=object)
        codes = self.code[idx]
        for code in np.unique(codes):
            where = np.flatnonzero(codes == code)
            template, columns = self._template(int(code), prefix)
            values = [self._strings(c, idx)[where].tolist() for c in columns]
            out[where] = [template % row for row in zip(*values)]
        return out.tolist()


#: Decimal places of every numeric column as written (others are strings already).
DECIMALS: dict[str, int] = {
    **dict.fromkeys(("customer_id", "clv_raw", "orders", "purchase_days", "x", "days", "r", "f",
                     "m", "frequency", "orders_now", "orders_before", "refunded_orders", "sent",
                     "opened", "clicked", "nps", "csat", "complaints", "health_int", "gap",
                     "continuation"), 0),
    **dict.fromkeys(("revenue", "refunded", "repeat_mean", "monetary", "spend_now", "spend_before",
                     "p_alive2", "expected2", "spend", "clv", "risk2", "overdue", "h_recency",
                     "h_frequency_trend", "h_spend_trend", "h_engagement", "h_satisfaction",
                     "h_refunds"), 2),
    "ratio": 1, "t_x": 4, "T": 4,  # t_x and T: whole days, or weeks to 4 places
    "p_alive": 4, "expected": 4, "risk": 4, "health": 2,
}

#: Columns a COPY-line prefix formats, in order.
PREFIX_COLUMNS = ("customer_id", "days", "r", "f", "m", "segment", "tier", "p_alive", "expected",
                  "clv_raw", "risk", "health", "band")
